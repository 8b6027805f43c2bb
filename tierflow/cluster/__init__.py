"""A production-shaped Temporal cluster on loopback: `make cluster`, `python -m tierflow.cluster`.

The Temporal server of the pinned version, built from its Go module (:mod:`.binaries`), on a
private PostgreSQL from Debian's packages (:mod:`.postgres`), its schema applied by Temporal's
own SQL tool; frontend, two history processes, matching and worker each a process of its own
(:mod:`.processes`), all configured from ``deploy/temporal-server.yaml`` — the file
docker-compose.yml mounts too — with the values :mod:`.layout` computes. The frontend serves
mTLS with certificates from a test CA made on first run (:mod:`.certs`); clients connect as to a
secured production cluster, through the Temporal configuration the cluster writes
(``client.env``, ``temporal.toml``). docs/cluster.md is the guide.
"""
