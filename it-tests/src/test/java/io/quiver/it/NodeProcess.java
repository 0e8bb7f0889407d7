package io.quiver.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A node in its own JVM ({@code quiver node}), for tests that kill or restart it. */
final class NodeProcess implements AutoCloseable {
  private static final Pattern READY = Pattern.compile("Quiver node ready: Flight SQL on grpc://[^:]+:(\\d+)");

  private final Process process;
  private final int port;
  private final StringBuffer output;
  private final Thread pump;

  private NodeProcess(Process process, int port, StringBuffer output, Thread pump) {
    this.process = process;
    this.port = port;
    this.output = output;
    this.pump = pump;
  }

  static NodeProcess start(Path dataDir, String... extraArgs) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    cmd.add("--add-opens=java.base/java.nio=ALL-UNNAMED");
    // DuckDB's native library copy goes to the node's own temporary directory, removed with the test's
    cmd.add("-Djava.io.tmpdir=" + java.nio.file.Files.createDirectories(dataDir.resolve("tmp")));
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add("io.quiver.server.cli.QuiverCli");
    cmd.add("node");
    cmd.add("--flight-port=0");
    cmd.add("--data-dir=" + dataDir);
    cmd.addAll(List.of(extraArgs));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    CompletableFuture<Integer> port = new CompletableFuture<>();
    StringBuffer out = new StringBuffer();
    Thread pump = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          out.append(line).append('\n');
          Matcher m = READY.matcher(line);
          if (m.find()) {
            port.complete(Integer.parseInt(m.group(1)));
          }
        }
      } catch (IOException e) {
        port.completeExceptionally(e);
      }
      port.completeExceptionally(new IllegalStateException("node exited before it was ready:\n" + out));
    }, "node-output");
    pump.setDaemon(true);
    pump.start();
    return new NodeProcess(p, port.get(60, TimeUnit.SECONDS), out, pump);
  }

  /** What the node has printed so far. */
  String output() {
    return output.toString();
  }

  long pid() {
    return process.pid();
  }

  int port() {
    return port;
  }

  String jdbcUrl() {
    return "jdbc:arrow-flight-sql://127.0.0.1:" + port + "/?useEncryption=false";
  }

  /** Sends a signal (STOP freezes the node: alive but unreachable, as behind a partition; CONT resumes it). */
  void signal(String name) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).start();
    kill.waitFor(10, TimeUnit.SECONDS);
  }

  /** SIGKILL: no shutdown hook, no checkpoint. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(30, TimeUnit.SECONDS);
  }

  /** SIGTERM: the node's shutdown hook closes the database cleanly. Returns the node's output. */
  String stop() throws InterruptedException {
    process.toHandle().destroy(); // Process.destroy() would also close our end of the node's output
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      process.waitFor(10, TimeUnit.SECONDS);
    }
    pump.join(10_000); // the pump ends at end of output
    return output.toString();
  }

  @Override
  public void close() throws Exception {
    if (process.isAlive()) {
      signal("CONT"); // a frozen process must resume to die cleanly
      kill();
    }
  }
}
