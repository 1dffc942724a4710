"""A Docker-less pseudo-distributed cluster for the integration tests.

``python -m mrlinreg.cluster up|down|status|env|render`` fetches HDFS, YARN, ZooKeeper,
HBase (+ Thrift1 gateway) and Apache Hive 4.0.1 (metastore + HiveServer2) into a cache,
renders the shared templates (package data ``mrlinreg/resources/conf``, linked from the
repository's ``conf/``) and runs every service on 127.0.0.1. Only the standard
library is imported here, so ``render`` also works in a bare ``python`` container
(docker-compose uses it to render the same templates).
"""
