package io.quiver.it;

import java.nio.file.Path;

/** Where the checkout is, as Maven tells the tests (falls back to the parent of it-tests). */
final class ItPaths {
  private ItPaths() {}

  static Path root() {
    String root = System.getProperty("quiver.root");
    if (root != null && !root.isBlank()) {
      return Path.of(root).toAbsolutePath();
    }
    Path cwd = Path.of("").toAbsolutePath();
    return cwd.getFileName().toString().equals("it-tests") ? cwd.getParent() : cwd;
  }
}
