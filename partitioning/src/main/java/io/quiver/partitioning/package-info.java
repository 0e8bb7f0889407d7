/**
 * Hash, range and replicated partitioning strategies, shard placement and repartition plans.
 * Empty until the distributed-tables issue; a single node keeps every table whole.
 */
package io.quiver.partitioning;
