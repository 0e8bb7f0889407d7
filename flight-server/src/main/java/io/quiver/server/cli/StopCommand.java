package io.quiver.server.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Stops the node that {@code start} launched for a data directory. */
@Command(name = "stop", mixinStandardHelpOptions = true,
    description = "Stop the node started by './quiver start' (SIGTERM, then SIGKILL after --timeout).")
final class StopCommand implements java.util.concurrent.Callable<Integer> {
  @Option(names = "--data-dir", defaultValue = "data",
      description = "Data directory of the node to stop (default: ${DEFAULT-VALUE}).")
  Path dataDir;

  @Option(names = "--timeout", defaultValue = "30",
      description = "Seconds to wait for a clean shutdown before killing (default: ${DEFAULT-VALUE}).")
  int timeoutSeconds;

  @Override
  public Integer call() throws Exception {
    stopNode(dataDir, timeoutSeconds);
    return 0;
  }

  /** Stops the node of a data directory; returns whether one was running. */
  static boolean stopNode(Path dataDir, int timeoutSeconds) throws Exception {
    Path pidFile = dataDir.toAbsolutePath().resolve(StartCommand.PID_FILE);
    Optional<ProcessHandle> node = runningNode(pidFile);
    if (node.isEmpty()) {
      Files.deleteIfExists(pidFile);
      System.out.println("No Quiver node is running for data dir " + dataDir.toAbsolutePath());
      return false;
    }
    ProcessHandle p = node.get();
    p.destroy();
    try {
      p.onExit().get(timeoutSeconds, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      System.err.println("quiver: node did not stop within " + timeoutSeconds + " s; killing it");
      p.destroyForcibly();
      p.onExit().get(10, TimeUnit.SECONDS);
    }
    Files.deleteIfExists(pidFile);
    System.out.println("Quiver stopped (pid " + p.pid() + ")");
    return true;
  }

  /** The live node process recorded in the pid file, if any. */
  static Optional<ProcessHandle> runningNode(Path pidFile) throws java.io.IOException {
    if (!Files.exists(pidFile)) {
      return Optional.empty();
    }
    long pid;
    try {
      pid = Long.parseLong(Files.readString(pidFile).trim());
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
    return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).filter(StopCommand::isQuiver);
  }

  /** Guards against a recycled pid: the process must be a Quiver JVM (checked where /proc exists). */
  private static boolean isQuiver(ProcessHandle h) {
    Path cmdline = Path.of("/proc", Long.toString(h.pid()), "cmdline");
    try {
      return !Files.exists(cmdline)
          || new String(Files.readAllBytes(cmdline), java.nio.charset.StandardCharsets.UTF_8)
              .contains(QuiverCli.class.getName());
    } catch (java.io.IOException e) {
      return true;
    }
  }
}
