"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 00:35:53.102943
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('anomalies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sensor', sa.String(length=128), nullable=False),
    sa.Column('protocol', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=256), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('first_evidence', sa.String(length=512), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sensor', 'protocol', 'kind')
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('token_hash', sa.String(length=128), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('applied_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sensor', sa.String(length=128), nullable=False),
    sa.Column('batch_id', sa.String(length=200), nullable=False),
    sa.Column('applied_at', sa.Float(), nullable=False),
    sa.Column('observations', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sensor', 'batch_id')
    )
    op.create_table('assets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('component', sa.String(length=64), nullable=True),
    sa.Column('merged_into', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('vendor', sa.String(length=256), nullable=True),
    sa.Column('product', sa.String(length=256), nullable=True),
    sa.Column('order_number', sa.String(length=256), nullable=True),
    sa.Column('firmware', sa.String(length=256), nullable=True),
    sa.Column('serial', sa.String(length=256), nullable=True),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('mac_vendor', sa.String(length=256), nullable=True),
    sa.Column('identified', sa.Boolean(), nullable=False),
    sa.Column('sent', sa.Boolean(), nullable=False),
    sa.Column('first_seen', sa.Float(), nullable=False),
    sa.Column('last_seen', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['assets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assets_identified'), ['identified'], unique=False)
        batch_op.create_index(batch_op.f('ix_assets_parent_id'), ['parent_id'], unique=False)

    op.create_table('ingest_lock',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('register',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('mac', sa.String(length=32), nullable=True),
    sa.Column('vendor', sa.String(length=256), nullable=True),
    sa.Column('model', sa.String(length=256), nullable=True),
    sa.Column('firmware', sa.String(length=256), nullable=True),
    sa.Column('location', sa.String(length=256), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('register', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_register_ip'), ['ip'], unique=False)
        batch_op.create_index(batch_op.f('ix_register_mac'), ['mac'], unique=False)

    op.create_table('sensors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('last_seen', sa.Float(), nullable=False),
    sa.Column('stats', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('traffic',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sensor', sa.String(length=128), nullable=False),
    sa.Column('protocol', sa.String(length=64), nullable=False),
    sa.Column('packets', sa.BigInteger(), nullable=False),
    sa.Column('bytes_seen', sa.BigInteger(), nullable=False),
    sa.Column('bytes_decoded', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sensor', 'protocol')
    )
    op.create_table('addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=4), nullable=False),
    sa.Column('vlan', sa.Integer(), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('confidence', sa.String(length=8), nullable=True),
    sa.Column('first_seen', sa.Float(), nullable=False),
    sa.Column('last_seen', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('asset_id', 'kind', 'vlan', 'value')
    )
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.create_index('ix_addresses_lookup', ['kind', 'vlan', 'value'], unique=False)

    op.create_table('communications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('protocol', sa.String(length=64), nullable=False),
    sa.Column('transport', sa.String(length=8), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('packets', sa.BigInteger(), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('first_seen', sa.Float(), nullable=False),
    sa.Column('last_seen', sa.Float(), nullable=False),
    sa.Column('profile', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['assets.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['server_id'], ['assets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_id', 'server_id', 'protocol', 'transport', 'port')
    )
    with op.batch_alter_table('communications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_communications_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_communications_server_id'), ['server_id'], unique=False)

    op.create_table('facts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=256), nullable=False),
    sa.Column('protocol', sa.String(length=64), nullable=False),
    sa.Column('message', sa.String(length=256), nullable=False),
    sa.Column('evidence', sa.String(length=512), nullable=False),
    sa.Column('sensor', sa.String(length=128), nullable=False),
    sa.Column('first_seen', sa.Float(), nullable=False),
    sa.Column('last_seen', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('asset_id', 'field', 'value', 'protocol')
    )
    with op.batch_alter_table('facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_facts_asset_id'), ['asset_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_facts_asset_id'))

    op.drop_table('facts')
    with op.batch_alter_table('communications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_communications_server_id'))
        batch_op.drop_index(batch_op.f('ix_communications_client_id'))

    op.drop_table('communications')
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.drop_index('ix_addresses_lookup')

    op.drop_table('addresses')
    op.drop_table('traffic')
    op.drop_table('sensors')
    with op.batch_alter_table('register', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_register_mac'))
        batch_op.drop_index(batch_op.f('ix_register_ip'))

    op.drop_table('register')
    op.drop_table('ingest_lock')
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assets_parent_id'))
        batch_op.drop_index(batch_op.f('ix_assets_identified'))

    op.drop_table('assets')
    op.drop_table('applied_batches')
    op.drop_table('api_tokens')
    op.drop_table('anomalies')

