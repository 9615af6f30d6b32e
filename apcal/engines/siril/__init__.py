"""The Siril engine: renders the plan into a Siril script and runs ``siril-cli`` on it, one master at a
time. Kept light (no numpy at import): :mod:`apcal.engines.capabilities` reads :mod:`.limits`."""
