"""Security advisories (issue 18): CPE 2.3 names for identified assets, an offline CSAF 2.0 reader, version
ranges in every form ICS advisories use, and the matcher that says which advisory applies to which device.

Layers: ``versions`` (pure), ``cpe`` (pure, per-vendor rules), ``csaf`` (reads documents, no database),
``match`` (pure functions: identity x advisory -> matches with their evidence), ``store`` (repository
functions and the import service; never commits: the caller's unit of work does)."""
