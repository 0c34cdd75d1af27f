from redispolicy.main import run

raise SystemExit(run())
