"""``python -m cluster.node --config PATH``: one node process."""

from cluster.node.main import main

raise SystemExit(main())
