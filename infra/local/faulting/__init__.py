"""The local cloud's fault injection: rules (rules.py), their command line (cli.py); see infra/local/moto_faults.py."""
