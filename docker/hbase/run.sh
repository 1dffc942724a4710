#!/usr/bin/env bash
# Start one HBase role with the configuration rendered into /rendered/hbase.
# The Java 17 options mirror JAVA17_OPTIONS in mrlinreg/cluster/services.py.
set -euo pipefail
opens=()
for pkg in java.lang java.lang.invoke java.lang.reflect java.io java.net java.nio java.util \
           java.util.concurrent java.util.concurrent.atomic java.util.regex java.text java.math \
           java.time sun.nio.ch sun.nio.cs sun.security.action sun.util.calendar \
           jdk.internal.misc jdk.internal.ref; do
  opens+=("--add-opens=java.base/${pkg}=ALL-UNNAMED")
done
opts=("${opens[@]}" --add-exports=java.base/jdk.internal.misc=ALL-UNNAMED
      -Dio.netty.tryReflectionSetAccessible=true
      -Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true
      -Djava.net.preferIPv4Stack=true -XX:+UseSerialGC -Dhbase.root.logger=INFO,console)
case "${1:-master}" in
  master)
    exec java -Xmx512m "${opts[@]}" -cp "/rendered/hbase:/opt/hbase/lib/*" \
      org.apache.hadoop.hbase.master.HMaster start ;;
  regionserver)
    exec java -Xmx768m "${opts[@]}" -cp "/rendered/hbase:/opt/hbase/lib/*" \
      org.apache.hadoop.hbase.regionserver.HRegionServer start ;;
  thrift)
    exec java -Xmx256m "${opts[@]}" -cp "/rendered/hbase:/opt/hbase-thrift/lib/*" \
      org.apache.hadoop.hbase.thrift.ThriftServer -b 0.0.0.0 -p 9090 -threadpool start ;;
  *)
    echo "usage: hbase-run master|regionserver|thrift" >&2; exit 2 ;;
esac
