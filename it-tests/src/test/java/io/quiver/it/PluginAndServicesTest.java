package io.quiver.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.server.cli.FreePorts;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * trex_db_load with a real plugin jar (compiled here), and the Flight service functions
 * (trex_db_flight_start/stop, trex_db_start_service/stop_service) with real extra endpoints.
 */
class PluginAndServicesTest {
  private static TestNode node;

  @TempDir
  Path dir;

  @BeforeAll
  static void start() throws Exception {
    node = TestNode.start();
  }

  @AfterEach
  void noLeaks() throws Exception {
    node.assertNoLeaks();
  }

  @AfterAll
  static void stop() throws Exception {
    node.close();
  }

  private static String scalar(int port, String sql) throws SQLException {
    return ItSql.scalar(port, sql);
  }

  private Path buildPluginJar() throws Exception {
    Path src = dir.resolve("src/demo/HelloPlugin.java");
    Files.createDirectories(src.getParent());
    Files.writeString(src, String.join("\n",
        "package demo;",
        "public class HelloPlugin implements io.quiver.catalog.plugin.QuiverPlugin {",
        "  public String name() { return \"hello\"; }",
        "  public void install(java.sql.Connection c) throws java.sql.SQLException {",
        "    org.duckdb.DuckDBFunctions.scalarFunction().withName(\"hello_plugin\").withParameter(String.class)",
        "        .withReturnType(String.class).withFunction((String s) -> \"hello \" + s).register(c);",
        "  }",
        "}"));
    Path classes = Files.createDirectories(dir.resolve("classes"));
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    int rc = javac.run(null, null, null, "-cp", System.getProperty("java.class.path"), "-d", classes.toString(),
        src.toString());
    assertEquals(0, rc, "the plugin compiles");
    Path jar = dir.resolve("hello-plugin.jar");
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
      out.putNextEntry(new JarEntry("demo/HelloPlugin.class"));
      out.write(Files.readAllBytes(classes.resolve("demo/HelloPlugin.class")));
      out.closeEntry();
      out.putNextEntry(new JarEntry("META-INF/services/io.quiver.catalog.plugin.QuiverPlugin"));
      out.write("demo.HelloPlugin\n".getBytes(StandardCharsets.UTF_8));
      out.closeEntry();
    }
    return jar;
  }

  @Test
  void loadsAPluginJarAndItsFunctionsWork() throws Exception {
    Path jar = buildPluginJar();
    assertTrue(scalar(node.port(), "SELECT trex_db_load('" + jar + "')").startsWith("loaded plugin hello from"));
    assertEquals("hello world", scalar(node.port(), "SELECT hello_plugin('world')"));
    SQLException twice = assertThrows(SQLException.class, () -> scalar(node.port(), "SELECT trex_db_load('" + jar + "')"));
    assertTrue(twice.getMessage().contains("already loaded"), twice.getMessage());
    Path empty = dir.resolve("empty.jar");
    try (OutputStream o = Files.newOutputStream(empty); JarOutputStream j = new JarOutputStream(o)) {
      j.putNextEntry(new JarEntry("x.txt"));
      j.closeEntry();
    }
    SQLException none = assertThrows(SQLException.class, () -> scalar(node.port(), "SELECT trex_db_load('" + empty + "')"));
    assertTrue(none.getMessage().contains("declares no plugin"), none.getMessage());
  }

  @Test
  void extraFlightServersStartServeAndStop() throws Exception {
    int port = FreePorts.block(0);
    assertEquals("Flight server started on 127.0.0.1:" + port,
        scalar(node.port(), "SELECT trex_db_flight_start('127.0.0.1', " + port + ")"));
    assertEquals("42", scalar(port, "SELECT 42"), "the extra endpoint serves the same node");
    assertEquals("2", scalar(node.port(), "SELECT count(*) FROM trex_db_flight_status()"));
    SQLException main = assertThrows(SQLException.class,
        () -> scalar(node.port(), "SELECT trex_db_flight_stop('127.0.0.1', " + node.port() + ")"));
    assertTrue(main.getMessage().contains("main Flight endpoint"), main.getMessage());
    assertEquals("Flight server on 127.0.0.1:" + port + " stopped",
        scalar(node.port(), "SELECT trex_db_flight_stop('127.0.0.1', " + port + ")"));

    assertTrue(scalar(node.port(), "SELECT trex_db_start_service('flight', '{\"host\": \"127.0.0.1\", \"port\": "
        + port + "}')").startsWith("Flight server started"));
    assertEquals("2", scalar(node.port(), "SELECT count(*) FROM trex_db_services() WHERE service_name = 'flight'"));
    assertEquals("stopped 1 Flight server", scalar(node.port(), "SELECT trex_db_stop_service('flight')"));
    assertEquals(List.of("1"), List.of(scalar(node.port(), "SELECT count(*) FROM trex_db_flight_status()")));
    SQLException pgwire = assertThrows(SQLException.class,
        () -> scalar(node.port(), "SELECT trex_db_start_service('pgwire', '{}')"));
    assertTrue(pgwire.getMessage().contains("not supported yet"), pgwire.getMessage());
  }
}
