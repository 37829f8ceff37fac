"""facts.component (the unit or slot a fact's frame was about) and assets.role_evidence (why the role)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 23:20:00

* ``facts.component``: "" for the device at the address itself, ``unit:N`` for a Modbus answer whose MBAP unit id
  was N, ``slot:N`` for a CIP identity routed through the backplane. The fact's uniqueness now includes it (two
  units behind one address may report the same value before the address is known to be a gateway).
* ``assets.role_evidence``: the reason merge.decide_role gave for the asset's role.
* ``ix_facts_field_value``: the vendor + serial and LLDP management-address look-ups of every batch.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

OLD = ['asset_id', 'field', 'value', 'protocol']
NEW = OLD + ['component']
# 0001 left the constraint unnamed: SQLite's batch copy names reflected constraints by this convention,
# PostgreSQL named it itself (<table>_<columns>_key)
SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def _names() -> tuple[str, str]:
    if op.get_bind().dialect.name == "postgresql":
        return "facts_asset_id_field_value_protocol_key", "facts_asset_id_field_value_protocol_component_key"
    return "uq_facts_asset_id_field_value_protocol", "uq_facts_asset_id_field_value_protocol_component"


def upgrade() -> None:
    old, new = _names()
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role_evidence', sa.String(length=512), nullable=True))
    with op.batch_alter_table('facts', schema=None, naming_convention=SQLITE_NAMES) as batch_op:
        batch_op.add_column(sa.Column('component', sa.String(length=64), server_default='', nullable=False))
        batch_op.drop_constraint(old, type_='unique')
        batch_op.create_unique_constraint(new, NEW)
        batch_op.create_index('ix_facts_field_value', ['field', 'value'], unique=False)


def downgrade() -> None:
    old, new = _names()
    with op.batch_alter_table('facts', schema=None, naming_convention=SQLITE_NAMES) as batch_op:
        batch_op.drop_index('ix_facts_field_value')
        batch_op.drop_constraint(new, type_='unique')
        batch_op.create_unique_constraint(old, OLD)
        batch_op.drop_column('component')
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_column('role_evidence')
