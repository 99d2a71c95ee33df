"""`make cluster-test`: GridCity scales out to several nodes.

On 127.0.0.1, on free ports, in a temporary directory, it starts a fresh PostgreSQL database on
the machine's server behind PgBouncer (transaction pooling), its own Redis, an S3 store (moto),
its own MQTT broker, two app nodes from this checkout (each `honcho start` of the Procfile:
gunicorn, task worker, periodic-jobs worker, scheduler, MQTT ingest) and haproxy in front. Then
it proves, with figures:

1. intake survives losing a node: 2,000 reports through haproxy from 24 client threads, node 1
   SIGKILLed (every process group) after 600 and restarted 5 s later; the database holds
   exactly one case per idempotency key, none lost, none twice;
2. the Open311 rate limit is one limit for the cluster (Redis), not one per node;
3. a photo stored through node 1 is served by node 2 (object storage, nothing on local disk);
4. a responsibility rule added in the admin on node 2 routes node 1's next report within 1 s;
5. with both schedulers up, every periodic job runs exactly once per tick, with no tick missing,
   also while node 1 is down;
6. MQTT readings shared by both nodes' ingest (shared subscription) are stored exactly once.

Everything is stopped at the end, also on failure or Ctrl-C, and the database dropped."""
