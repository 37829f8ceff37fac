from otscope.domain import Role, spec

SPEC = spec("smb", title="SMB", ot=False, rank=2, labels=("smb-client", "smb-server"), roles=(Role.IT_HOST,))
