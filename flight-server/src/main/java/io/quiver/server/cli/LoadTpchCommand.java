package io.quiver.server.cli;

import io.quiver.server.tpch.TpchData;
import io.quiver.server.tpch.TpchLoader;
import java.util.List;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./quiver load-tpch --sf 1}: generates TPC-H and loads it into a running node or cluster. */
@Command(name = "load-tpch", mixinStandardHelpOptions = true,
    description = {"Generate TPC-H data (pure Java generator) and load it into a running Quiver node over Flight SQL.",
        "In a cluster (Raft metadata present) the tables are distributed: lineitem and orders hashed on the order",
        "key and co-located, partsupp hashed on its part key, nation and region replicated, and customer, part",
        "and supplier hashed on their keys (--layout hashed) or replicated (--layout reference).",
        "On a standalone node they are ordinary local tables. The tables must not exist yet."})
final class LoadTpchCommand implements java.util.concurrent.Callable<Integer> {
  @Option(names = "--sf", defaultValue = "1", description = "Scale factor; 1 is about 8.7 million rows, 1 GB as text "
      + "(default: ${DEFAULT-VALUE}).")
  double sf;

  @Option(names = "--host", defaultValue = "127.0.0.1", description = "Node to load through (default: ${DEFAULT-VALUE}).")
  String host;

  @Option(names = {"--port", "--flight-port"}, defaultValue = "31337",
      description = "Its Flight SQL port (default: ${DEFAULT-VALUE}).")
  int port;

  @Option(names = "--partitions", defaultValue = "6",
      description = "Shards per hashed table in a cluster (default: ${DEFAULT-VALUE}).")
  int partitions;

  @Option(names = "--local", description = "Create node-local tables even when the node is in a cluster.")
  boolean local;

  @Option(names = "--layout", defaultValue = "hashed", description = "In a cluster: hashed (customer, part and "
      + "supplier hashed on their keys) or reference (replicated to every node) (default: ${DEFAULT-VALUE}).")
  String layout;

  @Override
  public Integer call() throws Exception {
    if (!(sf > 0) || partitions < 1) {
      System.err.println("quiver: --sf and --partitions must be positive");
      return 2;
    }
    TpchData.Layout chosen;
    try {
      chosen = TpchData.Layout.parse(layout);
    } catch (IllegalArgumentException e) {
      System.err.println("quiver: --layout: " + e.getMessage());
      return 2;
    }
    try (BufferAllocator allocator = new RootAllocator();
        FlightClient client = FlightClient.builder(allocator, Location.forGrpcInsecure(host, port)).build();
        FlightSqlClient sql = new FlightSqlClient(client)) {
      TpchLoader loader = new TpchLoader(sql, allocator, System.err);
      boolean distributed = !local && loader.clusterMode();
      System.out.printf("Loading TPC-H sf %s into %s:%d as %s tables%n", sf, host, port,
          distributed ? "distributed (" + partitions + " shards per hashed table, " + chosen.name().toLowerCase(
          java.util.Locale.ROOT) + " layout)" : "node-local");
      long start = System.nanoTime();
      List<TpchLoader.Loaded> loaded = loader.load(sf, partitions, distributed, chosen);
      double seconds = (System.nanoTime() - start) / 1e9;
      long rows = loaded.stream().mapToLong(TpchLoader.Loaded::rows).sum();
      System.out.printf("Loaded %,d rows in %.1f s (%,.0f rows/s). Try:%n  ./quiver sql --port %d \"SELECT "
          + "l_returnflag, count(*), sum(l_extendedprice) FROM lineitem GROUP BY 1 ORDER BY 1\"%n", rows, seconds,
          rows / seconds, port);
      return 0;
    } catch (RuntimeException e) {
      System.err.println();
      System.err.println("quiver: loading TPC-H failed: " + e.getMessage());
      return 1;
    }
  }
}
