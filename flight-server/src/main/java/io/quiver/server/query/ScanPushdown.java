package io.quiver.server.query;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quiver.catalog.engine.ArrowSchemas;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.duckdb.DuckDBConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Projection and filter pushdown for tables read from other nodes, decided by DuckDB's own
 * optimizer: the statement is planned over empty stand-in tables with the real columns (with
 * statistics propagation off, so that emptiness is not exploited), and every scan of a stand-in
 * in the plan tells which columns it reads and which filters DuckDB applies right at it. A table
 * is then fetched from its shards as {@code SELECT <columns of all its scans> FROM shard WHERE
 * <filters of scan 1> OR <filters of scan 2> ...} (no filter as soon as one scan has none). A
 * filter that does not read back as valid SQL is left out, and any surprise turns pushdown off for
 * the statement: fewer rows are never fetched than the statement needs.
 */
public final class ScanPushdown {
  private static final Logger LOG = LoggerFactory.getLogger(ScanPushdown.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_TABLES = 8;

  /** How to fetch one table: a select list and an optional WHERE condition (null = all rows). */
  public record Fetch(String select, String where) {}

  private ScanPushdown() {}

  /** Per table the statement reads from other nodes, how to fetch it; empty when pushdown is off for it. */
  static Map<String, Fetch> analyze(DuckDBConnection conn, String sql, RemoteTables.Locator locator) {
    Map<String, Map<String, String>> standIns = new LinkedHashMap<>();
    try {
      for (int i = 0; ; i++) {
        try (PreparedStatement ps = conn.prepareStatement(sql)) {
          if (ps.getParameterMetaData().getParameterCount() > 0) {
            return Map.of(); // EXPLAIN needs values
          }
          break;
        } catch (SQLException e) {
          String table = RemoteTables.missingTable(e);
          if (i >= MAX_TABLES || table == null) {
            return Map.of();
          }
          Optional<List<RemoteTables.Part>> parts = locator.partsOf(table);
          if (parts.isEmpty() || parts.get().isEmpty() || parts.get().get(0).columns() == null) {
            return Map.of();
          }
          Map<String, String> columns = parts.get().get(0).columns();
          try (Statement s = conn.createStatement()) {
            s.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(table) + " ("
                + ArrowSchemas.columnDefinitions(columns) + ")");
          }
          standIns.put(table, columns);
        }
      }
      if (standIns.isEmpty()) {
        return Map.of();
      }
      return overStandIns(conn, sql, standIns);
    } catch (SQLException | RuntimeException e) {
      LOG.debug("no scan pushdown for this statement: {}", e.toString());
      return Map.of();
    } finally {
      try (Statement s = conn.createStatement()) {
        for (String table : standIns.keySet()) {
          s.execute("DROP TABLE IF EXISTS temp.main." + ArrowSchemas.quoteIdentifier(table));
        }
      } catch (SQLException e) {
        LOG.warn("dropping stand-in tables failed: {}", e.getMessage());
      }
    }
  }

  /**
   * How to fetch each of {@code standIns} (table → columns), which exist on {@code conn} as empty
   * tables, for {@code sql}; empty when the plan cannot be read.
   */
  static Map<String, Fetch> overStandIns(DuckDBConnection conn, String sql, Map<String, Map<String, String>> standIns) {
    try {
      JsonNode plan;
      try (Statement s = conn.createStatement()) {
        s.execute("SET disabled_optimizers = 'statistics_propagation'");
        try (ResultSet rs = s.executeQuery("EXPLAIN (FORMAT json) " + sql)) {
          rs.next();
          plan = JSON.readTree(rs.getString(2));
        } finally {
          s.execute("RESET disabled_optimizers");
        }
      }
      Map<String, List<Scan>> scans = new LinkedHashMap<>();
      collect(plan, null, scans);
      Map<String, Fetch> out = new LinkedHashMap<>();
      for (Map.Entry<String, Map<String, String>> t : standIns.entrySet()) {
        List<Scan> of = scans.getOrDefault(t.getKey().toLowerCase(Locale.ROOT), List.of());
        if (of.isEmpty()) {
          continue;
        }
        out.put(t.getKey(), fetch(conn, t.getKey(), t.getValue(), of));
      }
      return out;
    } catch (SQLException | java.io.IOException | RuntimeException e) {
      LOG.debug("no scan pushdown for this statement: {}", e.toString());
      return Map.of();
    }
  }

  /** One scan of a stand-in: the columns it reads and the conditions DuckDB applies at it. */
  private record Scan(Set<String> columns, boolean allColumns, List<String> conditions) {}

  private static void collect(JsonNode node, JsonNode parent, Map<String, List<Scan>> scans) {
    if (node.isArray()) {
      node.forEach(n -> collect(n, parent, scans));
      return;
    }
    if ("SEQ_SCAN".equals(node.path("name").asText())) {
      JsonNode info = node.path("extra_info");
      String table = info.path("Table").asText();
      if (table.startsWith("\"temp\".")) {
        String name = table.substring(table.lastIndexOf('.') + 1).replace("\"", "").toLowerCase(Locale.ROOT);
        Set<String> columns = new LinkedHashSet<>();
        boolean all = false;
        JsonNode projections = info.path("Projections");
        if (projections.isMissingNode()) {
          all = true;
        }
        for (JsonNode p : projections.isArray() ? projections : JSON.createArrayNode().add(projections)) {
          columns.add(p.asText().replace("\"", "").toLowerCase(Locale.ROOT));
        }
        List<String> conditions = new ArrayList<>();
        JsonNode filters = info.path("Filters");
        for (JsonNode f : filters.isArray() ? filters : filters.isMissingNode() ? JSON.createArrayNode()
            : JSON.createArrayNode().add(filters)) {
          String text = f.asText().trim();
          if (text.startsWith("optional:")) {
            // an IN list DuckDB made from the statement's own OR/IN condition, kept optional at the scan
            text = text.substring("optional:".length()).trim();
          }
          if (!text.isEmpty() && !text.contains("Dynamic Filter") && !text.contains("optional:")) {
            conditions.add(text);
          }
        }
        if (parent != null && "FILTER".equals(parent.path("name").asText()) && parent.path("children").size() == 1) {
          String expression = parent.path("extra_info").path("Expression").asText().trim();
          if (!expression.isEmpty()) {
            conditions.add(expression);
          }
        }
        scans.computeIfAbsent(name, k -> new ArrayList<>()).add(new Scan(columns, all, conditions));
      }
    }
    for (JsonNode child : node.path("children")) {
      collect(child, node, scans);
    }
  }

  private static Fetch fetch(DuckDBConnection conn, String table, Map<String, String> columns, List<Scan> scans) {
    Set<String> needed = new LinkedHashSet<>();
    boolean all = false;
    List<String> perScan = new ArrayList<>();
    boolean everyScanFiltered = true;
    for (Scan s : scans) {
      all |= s.allColumns();
      needed.addAll(s.columns());
      List<String> valid = new ArrayList<>();
      for (String c : s.conditions()) {
        if (valid(conn, table, c)) {
          valid.add("(" + c + ")");
          // the statement still applies the condition itself, so its columns travel too
          io.quiver.coordinator.scan.ColumnUse.identifiers(c).ifPresent(ids -> ids.forEach(
              id -> needed.add(id.toLowerCase(Locale.ROOT))));
        }
      }
      if (valid.isEmpty()) {
        everyScanFiltered = false;
      } else {
        perScan.add("(" + String.join(" AND ", valid) + ")");
      }
    }
    List<String> chosen = new ArrayList<>();
    for (String c : columns.keySet()) {
      if (all || needed.contains(c.toLowerCase(Locale.ROOT))) {
        chosen.add(ArrowSchemas.quoteIdentifier(c));
      }
    }
    for (Scan s : scans) {
      for (String n : s.columns()) {
        if (columns.keySet().stream().noneMatch(c -> c.equalsIgnoreCase(n))) {
          all = true; // a projection that is not a plain column: fetch everything
        }
      }
    }
    String select = all || chosen.size() == columns.size() ? "*" : chosen.isEmpty()
        ? ArrowSchemas.quoteIdentifier(columns.keySet().iterator().next()) : String.join(", ", chosen);
    String where = everyScanFiltered && !perScan.isEmpty() ? String.join(" OR ", perScan) : null;
    return new Fetch(select, where);
  }

  /** True when {@code condition} reads back as a condition over the table's columns. */
  private static boolean valid(DuckDBConnection conn, String table, String condition) {
    if (condition.contains("SUBQUERY") || condition.contains("#[")) {
      return false;
    }
    try (PreparedStatement ps = conn.prepareStatement("SELECT 1 FROM temp.main." + ArrowSchemas.quoteIdentifier(table)
        + " WHERE " + condition)) {
      return ps.getParameterMetaData().getParameterCount() == 0;
    } catch (SQLException e) {
      return false;
    }
  }
}
