package io.quiver.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.server.cli.FreePorts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's first command and the SQL client, exactly as a user runs them: {@code ./quiver ...}. */
class CliTest {
  @TempDir
  Path dataDir;

  record Run(int exit, String out) {}

  private Run quiver(String stdin, String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(ItPaths.root().resolve("quiver").toString());
    cmd.addAll(List.of(args));
    Path out = Files.createTempFile(dataDir, "out", ".txt");
    Process p = new ProcessBuilder(cmd).directory(ItPaths.root().toFile()).redirectErrorStream(true)
        .redirectOutput(out.toFile()).start();
    try (var in = p.getOutputStream()) {
      if (stdin != null) {
        in.write(stdin.getBytes(StandardCharsets.UTF_8));
      }
    }
    boolean done = p.waitFor(5, TimeUnit.MINUTES);
    if (!done) {
      p.destroyForcibly();
    }
    String text = Files.readString(out);
    assertTrue(done, "./quiver " + String.join(" ", args) + " did not finish:\n" + text);
    return new Run(p.exitValue(), text);
  }

  private static int freePort() throws IOException {
    return FreePorts.block(0);
  }

  @Test
  void startSqlStop() throws Exception {
    String port = Integer.toString(freePort());
    String dir = dataDir.resolve("node").toString();
    Run start = quiver(null, "start", "--flight-port", port, "--data-dir", dir);
    try {
      assertEquals(0, start.exit(), start.out());
      assertTrue(start.out().contains("jdbc:arrow-flight-sql://127.0.0.1:" + port), start.out());

      Run again = quiver(null, "start", "--flight-port", port, "--data-dir", dir);
      assertEquals(1, again.exit(), again.out());
      assertTrue(again.out().contains("already running"), again.out());

      Run create = quiver(null, "sql", "--port", port, "CREATE TABLE cli_t AS SELECT range AS id FROM range(3)");
      assertEquals(0, create.exit(), create.out());
      Run select = quiver(null, "sql", "--port", port, "SELECT id, 'x' || id AS label FROM cli_t ORDER BY id");
      assertEquals(0, select.exit(), select.out());
      assertTrue(select.out().contains("| id | label |"), select.out());
      assertTrue(select.out().contains("| 2  | x2    |"), select.out());
      assertTrue(select.out().contains("3 rows"), select.out());

      Run capped = quiver(null, "sql", "--port", port, "--max-rows", "2", "SELECT * FROM range(10)");
      assertTrue(capped.out().contains("10 rows (showing the first 2; use --max-rows)"), capped.out());

      Run bad = quiver(null, "sql", "--port", port, "SELEC 1");
      assertEquals(1, bad.exit(), bad.out());
      assertTrue(bad.out().contains("ERROR: [SYNTAX_ERROR]"), bad.out());
      assertFalse(bad.out().contains("\tat "), "no stack trace: " + bad.out());

      Run tpch = quiver(null, "load-tpch", "--sf", "0.01", "--port", port);
      assertEquals(0, tpch.exit(), tpch.out());
      assertTrue(tpch.out().contains("as node-local tables") && tpch.out().contains("Loaded 86,805 rows"), tpch.out());
      assertTrue(tpch.out().contains("lineitem  [##############################] 100%"), tpch.out());
      Run q = quiver(null, "sql", "--port", port, "SELECT count(*) AS n FROM lineitem JOIN orders ON l_orderkey = "
          + "o_orderkey");
      assertTrue(q.out().contains("| 60175 |"), q.out());

      Run prompt = quiver("SELECT 40 +\n 2 AS answer;\nSELEC;\nSELECT 'still here' AS s;\n\\q\n", "sql", "--port", port);
      assertEquals(0, prompt.exit(), prompt.out());
      assertTrue(prompt.out().contains("| 42     |"), prompt.out());
      assertTrue(prompt.out().contains("ERROR:"), prompt.out());
      assertTrue(prompt.out().contains("still here"), prompt.out());
    } finally {
      Run stop = quiver(null, "stop", "--data-dir", dir);
      assertEquals(0, stop.exit(), stop.out());
      assertTrue(stop.out().contains("Quiver stopped"), stop.out());
    }
    Run stopAgain = quiver(null, "stop", "--data-dir", dir);
    assertTrue(stopAgain.out().contains("No Quiver node is running"), stopAgain.out());
  }

  @Test
  void clusterStartGivesEveryNodeItsMemoryOptions() throws Exception {
    String flight = Integer.toString(freePort());
    String gossip = Integer.toString(FreePorts.block(300));
    String base = dataDir.resolve("cluster").toString();
    Run start = quiver(null, "cluster", "start", "--nodes", "1", "--base-dir", base, "--flight-port", flight,
        "--gossip-port", gossip, "--query-memory", "300000000", "--shuffle-memory", "100000000", "--engine-threads",
        "1");
    try {
      assertEquals(0, start.exit(), start.out());
      Run config = quiver(null, "sql", "--port", flight, "SELECT key, value FROM trex_db_config() WHERE key IN "
          + "('query_memory', 'shuffle_memory', 'engine_threads') ORDER BY key");
      assertEquals(0, config.exit(), config.out());
      assertTrue(config.out().contains("| engine_threads | 1         |")
          && config.out().contains("| query_memory   | 300000000 |")
          && config.out().contains("| shuffle_memory | 100000000 |"), config.out());
      Run threads = quiver(null, "sql", "--port", flight, "SELECT current_setting('threads') AS duckdb_threads");
      assertTrue(threads.out().contains("| 1              |"), threads.out());
    } finally {
      Run stop = quiver(null, "cluster", "stop", "--base-dir", base);
      assertEquals(0, stop.exit(), stop.out());
    }
  }

  @Test
  void helpDocumentsEverySubcommandAndBadOptionsFail() throws Exception {
    Run help = quiver(null, "--help");
    assertEquals(0, help.exit());
    for (String sub : List.of("start", "stop", "node", "sql", "bench", "cluster", "load-tpch")) {
      assertTrue(help.out().contains("  " + sub + " "), "help lists " + sub + ":\n" + help.out());
      Run subHelp = quiver(null, sub, "--help");
      assertEquals(0, subHelp.exit(), subHelp.out());
    }
    Run startHelp = quiver(null, "start", "--help");
    for (String option : List.of("--host", "--flight-port", "--data-dir", "--result-ttl", "--batch-rows")) {
      assertTrue(startHelp.out().contains(option), startHelp.out());
    }
    // a benchmark's scratch directory that does not exist yet is made
    Path scratch = dataDir.resolve("bench").resolve("scratch");
    Run bench = quiver(null, "bench", "stream", "--rows", "1000", "--runs", "1", "--data-dir", scratch.toString());
    assertEquals(0, bench.exit(), bench.out());
    assertTrue(bench.out().contains("ADBC Flight SQL") && Files.isDirectory(scratch), bench.out());
    Run badPort = quiver(null, "start", "--flight-port", "70000", "--data-dir", dataDir.toString());
    assertEquals(1, badPort.exit(), badPort.out());
    assertTrue(badPort.out().contains("flight-port must be between 0 and 65535"), badPort.out());
  }
}
