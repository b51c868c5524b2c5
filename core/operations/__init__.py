"""Operations: how gridtalk's own processes are kept alive — worker heartbeats (readiness) and the restart
policy of `gridtalk run`."""
