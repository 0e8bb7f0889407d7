package io.quiver.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Runs the Python client compatibility suite (pyarrow.flight and ADBC dbapi, {@code
 * it-tests/python}) against a real node. Its dependencies are installed from PyPI into the
 * project-local virtual environment {@code it-tests/python/.venv}, pinned by requirements.txt.
 */
class PythonClientTest {
  private static final Path PYTHON_DIR = ItPaths.root().resolve("it-tests/python");
  private static final Path VENV = PYTHON_DIR.resolve(".venv");

  @Test
  void pythonSuitePasses() throws Exception {
    Path python = ensureVenv();
    try (TestNode node = TestNode.start()) {
      Path log = Files.createTempFile("quiver-pytest", ".log");
      ProcessBuilder pb = new ProcessBuilder(python.toString(), "-m", "pytest", "-v", "-p", "no:cacheprovider",
          PYTHON_DIR.toString()).redirectErrorStream(true).redirectOutput(log.toFile());
      pb.environment().put("QUIVER_FLIGHT_URI", "grpc://127.0.0.1:" + node.port());
      Process p = pb.start();
      boolean done = p.waitFor(10, TimeUnit.MINUTES);
      if (!done) {
        p.destroyForcibly();
      }
      System.out.println(Files.readString(log));
      Files.delete(log);
      assertTrue(done, "pytest did not finish within 10 minutes");
      assertEquals(0, p.exitValue(), "the Python client suite failed (see its output above)");
      node.assertNoLeaks();
    }
  }

  /** Creates the venv and installs requirements.txt when it is missing or out of date. */
  static Path ensureVenv() throws IOException, InterruptedException {
    Path python = VENV.resolve("bin/python");
    Path requirements = PYTHON_DIR.resolve("requirements.txt");
    Path stamp = VENV.resolve(".requirements-installed");
    String wanted = Files.readString(requirements);
    if (Files.isExecutable(python) && Files.exists(stamp) && Files.readString(stamp).equals(wanted)) {
      return python;
    }
    run(List.of("python3", "-m", "venv", VENV.toString()), "creating the Python virtual environment");
    run(List.of(python.toString(), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r",
        requirements.toString()), "installing the Python client suite's requirements from PyPI");
    Files.writeString(stamp, wanted);
    return python;
  }

  private static void run(List<String> cmd, String what) throws IOException, InterruptedException {
    System.out.println(what + " ...");
    Path log = Files.createTempFile("quiver-venv", ".log");
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    boolean ok = p.waitFor(10, TimeUnit.MINUTES) && p.exitValue() == 0;
    String output = Files.readString(log);
    Files.delete(log);
    if (!ok) {
      p.destroyForcibly();
      throw new IllegalStateException(what + " failed: " + String.join(" ", cmd) + "\n" + output);
    }
  }
}
