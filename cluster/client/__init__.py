"""The Python client of a running clusterlab backend and the ``clusterlab`` CLI."""

from cluster.client.api import ClientError, ClusterClient

__all__ = ["ClientError", "ClusterClient"]
