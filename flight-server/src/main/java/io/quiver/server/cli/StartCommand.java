package io.quiver.server.cli;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Starts a node in the background: a separate process running {@code quiver node}, its pid in
 * {@code <data-dir>/quiver.pid} and its log in {@code <data-dir>/quiver.log}. Returns once the node
 * accepts connections.
 */
@Command(name = "start", mixinStandardHelpOptions = true,
    description = "Start a single node (coordinator + data) in the background with an embedded DuckDB database,"
        + " then print the JDBC URL. Logs go to <data-dir>/quiver.log; './quiver stop' stops it.")
final class StartCommand implements java.util.concurrent.Callable<Integer> {
  static final String PID_FILE = "quiver.pid";
  static final String LOG_FILE = "quiver.log";

  @Mixin
  NodeOptions options;

  @Option(names = "--wait", defaultValue = "120",
      description = "Seconds to wait for the node to accept connections (default: ${DEFAULT-VALUE}).")
  int waitSeconds;

  @Override
  public Integer call() throws Exception {
    options.toConfig(); // validate before launching anything
    options.toClusterOptions();
    Path dataDir = options.dataDir.toAbsolutePath();
    Files.createDirectories(dataDir);
    Path pidFile = dataDir.resolve(PID_FILE);
    Optional<ProcessHandle> running = StopCommand.runningNode(pidFile);
    if (running.isPresent()) {
      System.err.println("quiver: a node is already running (pid " + running.get().pid() + ", data dir " + dataDir
          + "); stop it with './quiver stop --data-dir " + options.dataDir + "'");
      return 1;
    }
    Process p = launch(options, dataDir);
    String connectHost = connectHost(options.host);
    if (!awaitReady(p, connectHost, options.flightPort, waitSeconds, dataDir)) {
      return 1;
    }
    System.out.printf("Quiver started (pid %d), Flight SQL on %s:%d, data in %s%n", p.pid(), options.host,
        options.flightPort, dataDir);
    System.out.printf("  JDBC URL:  jdbc:arrow-flight-sql://%s:%d/?useEncryption=false%n", connectHost,
        options.flightPort);
    System.out.printf("  Try:       ./quiver sql \"SELECT 42 AS answer\"%n");
    System.out.printf("  Logs:      %s%n  Stop:      ./quiver stop%n", dataDir.resolve(LOG_FILE));
    return 0;
  }

  /** Launches {@code quiver node} with these options as a detached process; records its pid. */
  static Process launch(NodeOptions options, Path dataDir) throws IOException {
    Path log = dataDir.resolve(LOG_FILE);
    List<String> cmd = new ArrayList<>();
    if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
      cmd.add("/usr/bin/setsid"); // detach from the terminal: closing it must not stop the node
    }
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    cmd.addAll(jvmOptions());
    // the node's own temporary directory: DuckDB's native library copy and shuffle spills live there, and a copy left
    // by a killed node is removed when the node starts again (QuiverNode)
    Path tmp = Files.createDirectories(dataDir.resolve("tmp"));
    cmd.add("-Djava.io.tmpdir=" + tmp.toAbsolutePath());
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(QuiverCli.class.getName());
    cmd.add("node");
    cmd.addAll(options.toArgs());
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
        .start();
    Files.writeString(dataDir.resolve(PID_FILE), Long.toString(p.pid()));
    return p;
  }

  /** Waits until the node accepts connections; on failure says why (with the log's last lines). */
  static boolean awaitReady(Process p, String host, int port, int waitSeconds, Path dataDir)
      throws IOException, InterruptedException {
    Path log = dataDir.resolve(LOG_FILE);
    long deadline = System.nanoTime() + waitSeconds * 1_000_000_000L;
    while (!accepts(host, port)) {
      if (!p.isAlive()) {
        Files.deleteIfExists(dataDir.resolve(PID_FILE));
        System.err.println("quiver: the node in " + dataDir + " exited during start-up (exit code " + p.exitValue()
            + "). Last log lines:");
        tail(log, 20).forEach(System.err::println);
        return false;
      }
      if (System.nanoTime() > deadline) {
        System.err.println("quiver: the node did not accept connections within " + waitSeconds + " s; see " + log);
        return false;
      }
      Thread.sleep(200);
    }
    return true;
  }

  static String connectHost(String bindHost) {
    return bindHost.equals("0.0.0.0") ? "127.0.0.1" : bindHost;
  }

  /** The node gets this JVM's own flags: --add-opens and whatever QUIVER_JAVA_OPTS added. */
  static List<String> jvmOptions() {
    List<String> o = new ArrayList<>(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
    if (o.stream().noneMatch(a -> a.startsWith("--add-opens=java.base/java.nio"))) {
      o.add("--add-opens=java.base/java.nio=ALL-UNNAMED");
    }
    return o;
  }

  private static boolean accepts(String host, int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(host, port), 500);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static List<String> tail(Path log, int lines) throws IOException {
    List<String> all = Files.exists(log) ? Files.readAllLines(log) : List.of();
    return all.subList(Math.max(0, all.size() - lines), all.size());
  }
}
