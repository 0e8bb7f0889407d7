package io.quiver.server.cli;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightEndpoint;
import org.apache.arrow.flight.FlightInfo;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** A small Flight SQL client: one statement from the command line, or an interactive prompt. */
@Command(name = "sql", mixinStandardHelpOptions = true,
    description = {"Run SQL against a Quiver node and print the result as a table with row count and time.",
        "With a statement argument, runs it and exits (non-zero on error); without, reads statements",
        "ending in ';' from a prompt (\\q or Ctrl-D quits)."})
final class SqlCommand implements java.util.concurrent.Callable<Integer> {
  @Parameters(arity = "0..1", paramLabel = "STATEMENT", description = "The SQL to run (omit for a prompt).")
  String statement;

  @Option(names = "--host", defaultValue = "127.0.0.1", description = "Node to connect to (default: ${DEFAULT-VALUE}).")
  String host;

  @Option(names = {"--port", "--flight-port"}, defaultValue = "31337",
      description = "Flight SQL port (default: ${DEFAULT-VALUE}).")
  int port;

  @Option(names = "--max-rows", defaultValue = "1000",
      description = "Rows printed at most; the count always covers the whole result (default: ${DEFAULT-VALUE}).")
  int maxRows;

  @Override
  public Integer call() throws Exception {
    try (BufferAllocator allocator = new RootAllocator();
        FlightClient client = FlightClient.builder(allocator, Location.forGrpcInsecure(host, port)).build();
        FlightSqlClient sql = new FlightSqlClient(client)) {
      if (statement != null) {
        return run(sql, statement, System.out) ? 0 : 1;
      }
      return prompt(sql);
    }
  }

  private int prompt(FlightSqlClient sql) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    StringBuilder pending = new StringBuilder();
    System.out.println("Connected to " + host + ":" + port + ". End statements with ';', \\q quits.");
    while (true) {
      System.out.print(pending.length() == 0 ? "quiver> " : "   ...> ");
      System.out.flush();
      String line = in.readLine();
      if (line == null || (pending.length() == 0 && line.trim().equals("\\q"))) {
        System.out.println();
        return 0;
      }
      pending.append(line).append('\n');
      String text = pending.toString().trim();
      if (text.endsWith(";")) {
        pending.setLength(0);
        String stmt = text.substring(0, text.length() - 1).trim();
        if (!stmt.isEmpty()) {
          run(sql, stmt, System.out);
        }
      }
    }
  }

  /** The first column of the first row as text, or null when there is no row or it is NULL. */

  /** The single BIGINT of a {@code SELECT count(*) ...}. */
  static long count(FlightSqlClient sql, String query) throws Exception {
    FlightInfo info = sql.execute(query);
    try (FlightStream stream = sql.getStream(info.getEndpoints().get(0).getTicket())) {
      if (!stream.next() || stream.getRoot().getRowCount() != 1) {
        throw new IllegalStateException("expected one row from " + query);
      }
      return ((Number) stream.getRoot().getVector(0).getObject(0)).longValue();
    }
  }

  /** Runs one statement and prints its result; returns false (after printing why) on error. */
  boolean run(FlightSqlClient sql, String text, PrintStream out) {
    long start = System.nanoTime();
    try {
      FlightInfo info = sql.execute(text);
      List<String> header = new ArrayList<>();
      info.getSchema().getFields().forEach(f -> header.add(f.getName()));
      List<List<String>> rows = new ArrayList<>();
      long total = 0;
      for (FlightEndpoint endpoint : info.getEndpoints()) {
        try (FlightStream stream = sql.getStream(endpoint.getTicket())) {
          while (stream.next()) {
            VectorSchemaRoot root = stream.getRoot();
            for (int r = 0; r < root.getRowCount(); r++) {
              if (rows.size() < maxRows) {
                List<String> row = new ArrayList<>();
                for (FieldVector v : root.getFieldVectors()) {
                  row.add(ValueFormatter.format(v, r));
                }
                rows.add(row);
              }
              total++;
            }
          }
        }
      }
      double ms = (System.nanoTime() - start) / 1e6;
      if (header.isEmpty()) {
        out.printf("OK (%.1f ms)%n", ms);
        return true;
      }
      TablePrinter.print(out, header, rows);
      String shown = total > rows.size() ? String.format(" (showing the first %d; use --max-rows)", rows.size()) : "";
      out.printf("%d row%s%s (%.1f ms)%n", total, total == 1 ? "" : "s", shown, ms);
      return true;
    } catch (FlightRuntimeException e) {
      System.err.println("ERROR: " + e.getMessage());
      return false;
    } catch (Exception e) {
      System.err.println("ERROR: " + e.getMessage());
      return false;
    }
  }
}
