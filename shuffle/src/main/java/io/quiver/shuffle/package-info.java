/**
 * {@code ShuffleWriter} / {@code ShuffleReader}: hash-partitioned Arrow exchange between data nodes
 * with backpressure. Empty until the distributed query engine issue.
 */
package io.quiver.shuffle;
