/**
 * A push-based, hash-partitioned Arrow exchange between data nodes would live here. Empty for now:
 * shuffles are pull-based ({@code io.quiver.server.query.Fragments}), each fragment pulling from
 * every shard of the shuffled table the rows that hash to its own shards.
 */
package io.quiver.shuffle;
