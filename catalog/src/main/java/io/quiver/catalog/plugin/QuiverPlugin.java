package io.quiver.catalog.plugin;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * A plugin loaded at run time with {@code SELECT trex_db_load('/path/plugin.jar')}. The jar names
 * its implementations in {@code META-INF/services/io.quiver.catalog.plugin.QuiverPlugin}; each is
 * installed once, on the node's database, typically registering SQL functions with DuckDB's Java
 * function API ({@code org.duckdb.DuckDBFunctions}).
 */
public interface QuiverPlugin {
  /** A short unique name; a plugin of the same name is loaded at most once per node. */
  String name();

  /** Installs the plugin on the node's root database connection (functions registered there are global). */
  void install(Connection database) throws SQLException;
}
