package io.quiver.server;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeCopiesTest {
  @TempDir Path dir;

  @Test
  void copiesLeftInTheNodesOwnTemporaryDirectoryAreRemovedOthersAreNot() throws Exception {
    Path data = Files.createDirectories(dir.resolve("node"));
    Path own = Files.createDirectories(data.resolve("tmp"));
    Path stale = Files.writeString(own.resolve("libduckdb_java123.so"), "x");
    Path spill = Files.writeString(own.resolve("shuffle-x.arrows"), "x");
    Path shared = Files.createDirectories(dir.resolve("shared"));
    Path othersCopy = Files.writeString(shared.resolve("libduckdb_java456.so"), "x");
    String before = System.getProperty("java.io.tmpdir");
    try {
      System.setProperty("java.io.tmpdir", shared.toString());
      QuiverNode.removeStaleNativeCopies(data);
      assertTrue(Files.exists(othersCopy), "a temporary directory outside the data directory is not the node's");
      System.setProperty("java.io.tmpdir", own.toString());
      QuiverNode.removeStaleNativeCopies(data);
      assertFalse(Files.exists(stale), "a copy a killed run left in the node's own directory goes");
      assertTrue(Files.exists(spill), "only DuckDB's library copies go");
    } finally {
      System.setProperty("java.io.tmpdir", before);
    }
  }
}
