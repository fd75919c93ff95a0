// The durable spool and the delivery scheduler.
