package io.quiver.server.query;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.duckdb.DuckDBConnection;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Key filters (semi-join reduction) of gathered statements, over a real DuckDB: a table of this
 * node ({@code part}) and a table of other nodes ({@code lineitem}, an empty stand-in while the
 * statement is analysed). Every statement is also run over the rows the key filter fetches and over
 * all rows: the results must be equal, so a filter that drops a row the statement needs fails here.
 */
class ScanPushdownTest {
  private static final Map<String, String> LINEITEM = new LinkedHashMap<>(Map.of());

  static {
    LINEITEM.put("l_orderkey", "BIGINT");
    LINEITEM.put("l_partkey", "INTEGER");
    LINEITEM.put("l_quantity", "DOUBLE");
    LINEITEM.put("l_comment", "VARCHAR");
  }

  private DuckDBConnection conn;

  @BeforeEach
  void setUp() throws SQLException {
    conn = (DuckDBConnection) DriverManager.getConnection("jdbc:duckdb:");
    try (Statement s = conn.createStatement()) {
      s.execute("CREATE TABLE part AS SELECT CAST(i AS INTEGER) AS p_partkey, 'Brand#' || (i % 5) AS p_brand, "
          + "CASE WHEN i % 3 = 0 THEN 'BOX' ELSE 'BAG' END AS p_container FROM range(1, 201) t(i)");
      // the rows lineitem has on the other nodes
      s.execute("CREATE TABLE lineitem_rows AS SELECT i AS l_orderkey, CAST(1 + i % 250 AS INTEGER) AS l_partkey, "
          + "CAST(i % 50 AS DOUBLE) AS l_quantity, 'c' || (i % 7) AS l_comment FROM range(0, 6000) t(i)");
    }
  }

  @AfterEach
  void tearDown() throws SQLException {
    conn.close();
  }

  @Test
  void aCorrelatedSubqueryOverAFilteredTableOfThisNodeFetchesOnlyItsKeys() throws Exception {
    // TPC-H Q17's shape: both scans of lineitem are keyed by part's filtered keys
    String sql = "SELECT sum(l_quantity) FROM lineitem, part WHERE p_partkey = l_partkey AND p_brand = 'Brand#3' "
        + "AND p_container = 'BOX' AND l_quantity < (SELECT 0.5 * avg(l_quantity) FROM lineitem "
        + "WHERE l_partkey = p_partkey)";
    ScanPushdown.Fetch f = analyze(sql);
    assertTrue(f.hasKeyFilters(), "a key filter from part");
    ScanPushdown.KeyFilter k = f.scans().get(0).keys().get(0);
    assertEquals("l_partkey", k.column());
    assertEquals("part", k.source());
    assertEquals("p_partkey", k.sourceColumn());
    assertTrue(k.localWhere().contains("Brand#3") && k.localWhere().contains("BOX"), k.localWhere());
    String where = resolve(f);
    // 200 parts; Brand#3 and a BOX: the parts 3, 18, 33, ..., 198, 14 keys
    assertTrue(where.contains("\"l_partkey\" IN ("), where);
    assertEquals(14, where.substring(where.indexOf("IN (")).split(",").length, where);
    assertEquals(1, where.split(" IN \\(").length - 1, "two scans with the same key filter read the same rows");
    assertSameResult(sql, f);
    assertTrue(fetchedRows(f) < 500, "only the rows of 14 parts are fetched, not 6000");
  }

  @Test
  void anInnerJoinAndASemiJoinAreReduced() throws Exception {
    for (String sql : List.of(
        "SELECT count(*), sum(l_quantity) FROM lineitem JOIN part ON l_partkey = p_partkey WHERE p_brand = 'Brand#1'",
        "SELECT count(*) FROM lineitem WHERE l_partkey IN (SELECT p_partkey FROM part WHERE p_container = 'BOX')",
        "SELECT l_comment, count(*) FROM part RIGHT JOIN lineitem ON l_partkey = p_partkey AND p_brand = 'Brand#2' "
            + "WHERE p_partkey IS NOT NULL GROUP BY ALL ORDER BY 1")) {
      ScanPushdown.Fetch f = analyze(sql);
      assertSameResult(sql, f);
    }
    assertTrue(analyze("SELECT count(*) FROM lineitem JOIN part ON l_partkey = p_partkey WHERE p_brand = 'Brand#1'")
        .hasKeyFilters());
  }

  @Test
  void anInSubqueryBesideAnotherSubqueryIsAMarkJoinWhoseFilterReduces() throws Exception {
    // TPC-H Q20's shape: IN (subquery) AND a correlated comparison make DuckDB plan a mark join + filter
    String sql = "SELECT count(*), sum(l_quantity) FROM lineitem WHERE l_partkey IN (SELECT p_partkey FROM part "
        + "WHERE p_brand = 'Brand#2') AND l_quantity > (SELECT 0.5 * avg(l2.l_quantity) FROM lineitem l2 "
        + "WHERE l2.l_orderkey % 7 = lineitem.l_orderkey % 7)";
    ScanPushdown.Fetch f = analyze(sql);
    assertSameResult(sql, f);
    assertTrue(f.scans().stream().anyMatch(s -> s.keys().stream().anyMatch(k -> k.source().equals("part"))),
        f.toString());
    // the same IN inside an OR keeps every row: the mark is not what the filter keeps
    String or = "SELECT count(*) FROM lineitem WHERE (l_partkey IN (SELECT p_partkey FROM part WHERE p_brand = "
        + "'Brand#2') OR l_quantity > 40) AND l_quantity > (SELECT 0.5 * avg(l2.l_quantity) FROM lineitem l2 "
        + "WHERE l2.l_orderkey % 7 = lineitem.l_orderkey % 7)";
    ScanPushdown.Fetch orFetch = analyze(or);
    assertFalse(orFetch.hasKeyFilters(), orFetch.toString());
    assertSameResult(or, orFetch);
  }

  @Test
  void rowsThatMatterWithoutAPartnerAreNotReduced() throws Exception {
    for (String sql : List.of(
        // lineitem is the preserved side of an outer join: every row counts
        "SELECT count(*), count(p_partkey) FROM lineitem LEFT JOIN part ON l_partkey = p_partkey AND p_brand = 'Brand#1'",
        // an anti join keeps exactly the rows without a partner
        "SELECT count(*) FROM lineitem WHERE l_partkey NOT IN (SELECT p_partkey FROM part WHERE p_brand = 'Brand#1')",
        // a LIMIT between the scan and the join decides rows before the join
        "SELECT count(*) FROM (SELECT * FROM lineitem ORDER BY l_orderkey LIMIT 100) l JOIN part "
            + "ON l.l_partkey = p_partkey WHERE p_brand = 'Brand#1'")) {
      ScanPushdown.Fetch f = analyze(sql);
      assertFalse(f.hasKeyFilters(), sql);
      assertSameResult(sql, f);
    }
  }

  @Test
  void aNameThatCouldMeanSomethingElseMakesNoKeyFilter() throws Exception {
    // p_partkey is also an alias of lineitem's column: the join's p_partkey is not only part's
    String renamed = "SELECT count(*) FROM (SELECT l_partkey + 1 AS p_partkey, l_quantity FROM lineitem) l "
        + "JOIN part p ON l.p_partkey = p.p_partkey WHERE p_brand = 'Brand#1'";
    assertFalse(analyze(renamed).hasKeyFilters());
    assertSameResult(renamed, analyze(renamed));
    // a table function could bring a column of any name
    String function = "SELECT count(*) FROM lineitem JOIN (SELECT i AS p_partkey FROM range(1, 10) t(i)) r "
        + "ON l_partkey = r.p_partkey";
    assertFalse(analyze(function).hasKeyFilters());
    // a temporary table of this node has a column of that name too: the join's p_partkey is its, not part's
    try (Statement s = conn.createStatement()) {
      s.execute("CREATE TEMP TABLE my_keys AS SELECT CAST(i AS INTEGER) AS p_partkey FROM range(1, 250) t(i)");
    }
    String temporary = "SELECT count(*) FROM lineitem JOIN my_keys k ON l_partkey = k.p_partkey "
        + "WHERE EXISTS (SELECT 1 FROM part WHERE p_brand = 'Brand#1' AND part.p_partkey = 6)";
    assertFalse(analyze(temporary).hasKeyFilters());
    assertSameResult(temporary, analyze(temporary));
    // a table read whole reduces nothing
    assertFalse(analyze("SELECT count(*) FROM lineitem JOIN part ON l_partkey = p_partkey").hasKeyFilters());
  }

  @Test
  void aJoinAboveTheFirstReducesWhenItsColumnCanOnlyBeTheScans() throws Exception {
    // TPC-H Q9's shape: lineitem joins another table of other nodes first (on two columns), the filtered
    // part above that join. ps is that table: an empty stand-in while analysed, its rows when run
    try (Statement s = conn.createStatement()) {
      s.execute("CREATE TABLE ps AS SELECT CAST(1 + i % 250 AS INTEGER) AS ps_partkey, i AS ps_orderkey, "
          + "CAST(i % 3 AS DOUBLE) AS ps_cost FROM range(0, 6000) t(i)");
    }
    Map<String, String> ps = new LinkedHashMap<>();
    ps.put("ps_partkey", "INTEGER");
    ps.put("ps_orderkey", "BIGINT");
    ps.put("ps_cost", "DOUBLE");
    String sql = "SELECT count(*), sum(l_quantity * ps_cost) FROM lineitem, ps, part WHERE l_partkey = ps_partkey "
        + "AND l_orderkey = ps_orderkey AND p_partkey = l_partkey AND p_brand = 'Brand#1'";
    ScanPushdown.Fetch f = analyze(sql, Map.of("ps", ps));
    assertTrue(f.scans().get(0).keys().stream().anyMatch(k -> k.source().equals("part")), f.toString());
    assertSameResult(sql, f);
    assertTrue(fetchedRows(f) < 2000, "only the rows of Brand#1's parts");
    // lineitem read twice: the l_partkey of the join with part above is b's, not a's
    String self = "SELECT count(*), sum(a.l_quantity * ps_cost) FROM lineitem a, ps, lineitem b, part "
        + "WHERE a.l_partkey = ps_partkey AND a.l_orderkey = ps_orderkey AND b.l_orderkey = a.l_orderkey + 1 "
        + "AND p_partkey = b.l_partkey AND p_brand = 'Brand#1'";
    assertSameResult(self, analyze(self, Map.of("ps", ps)));
  }

  @Test
  void aFragmentsFetchIsReducedByASubqueryOverATableItsServingNodesHold() throws Exception {
    String sql = "SELECT count(*), sum(l_quantity) FROM lineitem JOIN part ON l_partkey = p_partkey "
        + "WHERE p_brand = 'Brand#1'";
    try (Statement s = conn.createStatement()) {
      s.execute("CREATE TEMP TABLE lineitem (l_orderkey BIGINT, l_partkey INTEGER, l_quantity DOUBLE, l_comment VARCHAR)");
    }
    ScanPushdown.Fetch f;
    try {
      f = ScanPushdown.overStandIns(conn, sql, Map.of("lineitem", LINEITEM), false,
          Map.of("part", "(SELECT * FROM main.part)")).get("lineitem");
    } finally {
      try (Statement s = conn.createStatement()) {
        s.execute("DROP TABLE temp.main.lineitem");
      }
    }
    assertFalse(f.hasKeyFilters(), "resolved on the coordinator already");
    assertTrue(f.where().contains("\"l_partkey\" IN (SELECT \"p_partkey\" FROM (SELECT * FROM main.part) AS \"part\""),
        f.where());
    assertSameResult(sql, f);
    assertTrue(fetchedRows(f) < 2000, "only the rows of Brand#1's parts");
    // without a table the serving nodes hold, nothing is reduced
    try (Statement s = conn.createStatement()) {
      s.execute("CREATE TEMP TABLE lineitem (l_orderkey BIGINT, l_partkey INTEGER, l_quantity DOUBLE, l_comment VARCHAR)");
    }
    try {
      assertNull(ScanPushdown.overStandIns(conn, sql, Map.of("lineitem", LINEITEM), false, Map.of()).get("lineitem")
          .where());
    } finally {
      try (Statement s = conn.createStatement()) {
        s.execute("DROP TABLE temp.main.lineitem");
      }
    }
  }

  @Test
  void aTextColumnReadOnlyByItsOwnPushedConditionTravelsAsOneSampledValue() throws Exception {
    // TPC-H Q13's shape: o_comment only decides which orders join
    String sql = "SELECT count(*), count(l_orderkey), sum(l_quantity) FROM part LEFT JOIN lineitem "
        + "ON p_partkey = l_partkey AND l_comment NOT LIKE '%3%'";
    ScanPushdown.Fetch f = analyze(sql);
    assertEquals(List.of("l_comment"), f.sampled(), f.toString());
    assertFalse(f.select().contains("l_comment"), f.select());
    assertTrue(f.where().contains("l_comment"), f.where());
    assertSameResult(sql, f);
    for (String kept : List.of(
        // the statement reads the column itself
        "SELECT l_comment, count(*) FROM lineitem WHERE l_comment <> 'c3' GROUP BY l_comment ORDER BY l_comment",
        // its condition reads another column too: another row's value may not pass it with this row's
        "SELECT count(*), sum(l_quantity) FROM lineitem WHERE l_comment <> 'c' || CAST(l_partkey % 7 AS VARCHAR)",
        // two scans of the table: rows fetched for one need not pass the other's condition
        "SELECT count(*) FROM lineitem a, lineitem b WHERE a.l_orderkey = b.l_orderkey + 1 AND a.l_comment = 'c1' "
            + "AND b.l_comment = 'c2'")) {
      ScanPushdown.Fetch k = analyze(kept);
      assertEquals(List.of(), k.sampled(), kept + ": " + k);
      assertSameResult(kept, k);
    }
  }

  @Test
  void tooManyKeysMakeNoCondition() throws Exception {
    ScanPushdown.KeyFilter many = new ScanPushdown.KeyFilter("l_orderkey", "BIGINT", "lineitem_rows", "l_orderkey",
        "lineitem_rows", null);
    assertEquals(Optional.empty(), ScanPushdown.keyCondition(conn, many, "lineitem_rows", null));
    ScanPushdown.KeyFilter none = new ScanPushdown.KeyFilter("l_partkey", "INTEGER", "part", "p_partkey", "part",
        "p_brand = 'nobody'");
    assertEquals(Optional.of("FALSE"), ScanPushdown.keyCondition(conn, none, "part", "p_brand = 'nobody'"));
    // many integer keys travel as one string, split on the node
    ScanPushdown.KeyFilter some = new ScanPushdown.KeyFilter("l_partkey", "INTEGER", "part", "p_partkey", "part",
        "p_partkey <= 40");
    String split = ScanPushdown.keyCondition(conn, some, "part", "p_partkey <= 40").orElseThrow();
    assertTrue(split.startsWith("\"l_partkey\" IN (SELECT CAST(unnest(string_split('"), split);
    try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FILTER (WHERE " + split
        + "), count(*) FILTER (WHERE l_partkey <= 40) FROM lineitem_rows")) {
      rs.next();
      assertEquals(rs.getLong(2), rs.getLong(1));
      assertTrue(rs.getLong(1) > 0);
    }
    ScanPushdown.KeyFilter text = new ScanPushdown.KeyFilter("l_comment", "VARCHAR", "part", "p_brand", "part",
        "p_partkey = 3");
    assertEquals(Optional.of("\"l_comment\" IN ('Brand#3')"), ScanPushdown.keyCondition(conn, text, "part",
        "p_partkey = 3"));
    try (Statement s = conn.createStatement()) {
      s.execute("CREATE TABLE quotes AS SELECT 'it''s' AS q, DATE '2024-02-29' AS d");
    }
    ScanPushdown.KeyFilter quoted = new ScanPushdown.KeyFilter("l_comment", "VARCHAR", "quotes", "q", "quotes", "true");
    assertEquals(Optional.of("\"l_comment\" IN ('it''s')"), ScanPushdown.keyCondition(conn, quoted, "quotes", "true"));
    ScanPushdown.KeyFilter date = new ScanPushdown.KeyFilter("l_date", "DATE", "quotes", "d", "quotes", "true");
    assertEquals(Optional.of("\"l_date\" IN (CAST('2024-02-29' AS DATE))"),
        ScanPushdown.keyCondition(conn, date, "quotes", "true"));
  }

  @Test
  void tablesWaitingOnEachOtherStartWithTheOneFilteredByItself() {
    // Q17 over two tables of other nodes: lineitem keyed by part, part keyed by lineitem
    ScanPushdown.KeyFilter byPart = new ScanPushdown.KeyFilter("l_partkey", "INTEGER", "part", "p_partkey", null, null);
    ScanPushdown.KeyFilter byLineitem = new ScanPushdown.KeyFilter("p_partkey", "INTEGER", "lineitem", "l_partkey",
        null, null);
    Map<String, ScanPushdown.Fetch> fetches = new LinkedHashMap<>();
    fetches.put("lineitem", new ScanPushdown.Fetch("*", null,
        List.of(new ScanPushdown.ScanFilter(List.of(), List.of(byPart)))));
    fetches.put("part", new ScanPushdown.Fetch("*", "(p_brand = 'Brand#23')",
        List.of(new ScanPushdown.ScanFilter(List.of("(p_brand = 'Brand#23')"), List.of(byLineitem)))));
    Map<String, ScanPushdown.Fetch> ordered = ScanPushdown.ordered(fetches);
    assertFalse(ordered.get("part").hasKeyFilters(), "part is fetched first, by its own filter");
    assertTrue(ordered.get("lineitem").hasKeyFilters(), "then lineitem, by part's keys");
    assertEquals(List.of(List.of("part"), List.of("lineitem")), ScanPushdown.rounds(ordered));
    // Q11: supplier keyed by nation (filtered) and by partsupp, partsupp keyed by supplier: supplier, reduced by
    // nation's keys, goes before partsupp
    ScanPushdown.KeyFilter byNation = new ScanPushdown.KeyFilter("s_nationkey", "INTEGER", "nation", "n_nationkey",
        null, null);
    ScanPushdown.KeyFilter byPartsupp = new ScanPushdown.KeyFilter("s_suppkey", "BIGINT", "partsupp", "ps_suppkey",
        null, null);
    ScanPushdown.KeyFilter bySupplier = new ScanPushdown.KeyFilter("ps_suppkey", "BIGINT", "supplier", "s_suppkey",
        null, null);
    Map<String, ScanPushdown.Fetch> q11 = new LinkedHashMap<>();
    q11.put("partsupp", new ScanPushdown.Fetch("*", null, List.of(new ScanPushdown.ScanFilter(List.of(),
        List.of(bySupplier)))));
    q11.put("supplier", new ScanPushdown.Fetch("*", null, List.of(new ScanPushdown.ScanFilter(List.of(),
        List.of(byNation, byPartsupp)))));
    q11.put("nation", new ScanPushdown.Fetch("*", "(n_name = 'GERMANY')"));
    Map<String, ScanPushdown.Fetch> q11Ordered = ScanPushdown.ordered(q11);
    assertEquals(List.of(List.of("nation"), List.of("supplier"), List.of("partsupp")), ScanPushdown.rounds(q11Ordered));
    assertTrue(q11Ordered.get("partsupp").hasKeyFilters(), "partsupp by supplier's keys");
    assertEquals(List.of(byNation), q11Ordered.get("supplier").scans().get(0).keys(), "supplier by nation's keys");
    // a source read whole is no use: its key filter is dropped and both are fetched at once
    Map<String, ScanPushdown.Fetch> unfiltered = new LinkedHashMap<>(fetches);
    unfiltered.put("part", new ScanPushdown.Fetch("*", null));
    Map<String, ScanPushdown.Fetch> plain = ScanPushdown.ordered(unfiltered);
    assertFalse(plain.get("lineitem").hasKeyFilters());
    assertEquals(1, ScanPushdown.rounds(plain).size());
  }

  /** How {@code sql} fetches lineitem, analysed over an empty stand-in. */
  private ScanPushdown.Fetch analyze(String sql) throws SQLException {
    return analyze(sql, Map.of());
  }

  /** The same with {@code others} (name → columns) as further tables of other nodes, empty stand-ins too. */
  private ScanPushdown.Fetch analyze(String sql, Map<String, Map<String, String>> others) throws SQLException {
    Map<String, Map<String, String>> standIns = new LinkedHashMap<>();
    standIns.put("lineitem", LINEITEM);
    standIns.putAll(others);
    try (Statement s = conn.createStatement()) {
      for (Map.Entry<String, Map<String, String>> t : standIns.entrySet()) {
        s.execute("CREATE TEMP TABLE " + t.getKey() + " (" + String.join(", ", t.getValue().entrySet().stream()
            .map(c -> c.getKey() + " " + c.getValue()).toList()) + ")");
      }
    }
    try {
      Map<String, ScanPushdown.Fetch> fetches = ScanPushdown.overStandIns(conn, sql, standIns, true);
      ScanPushdown.Fetch f = fetches.get("lineitem");
      assertNotNull(f, "the statement reads lineitem: " + fetches);
      return f;
    } finally {
      try (Statement s = conn.createStatement()) {
        for (String t : standIns.keySet()) {
          s.execute("DROP TABLE temp.main." + t);
        }
      }
    }
  }

  /** The fetch's WHERE with its key filters resolved over this node's tables. */
  private String resolve(ScanPushdown.Fetch f) {
    return f.where(k -> {
      try {
        assertNotNull(k.localTable(), "every source here is a table of this node");
        return ScanPushdown.keyCondition(conn, k, k.localTable(), k.localWhere());
      } catch (SQLException e) {
        throw new AssertionError(e);
      }
    });
  }

  private long fetchedRows(ScanPushdown.Fetch f) throws SQLException {
    String where = resolve(f);
    try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM lineitem_rows"
        + (where == null ? "" : " WHERE " + where))) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /**
   * Runs {@code sql} over the rows {@code f} fetches (its sampled columns as one value that passes the
   * WHERE, as the fetch brings them) and over all rows: the results are equal.
   */
  private void assertSameResult(String sql, ScanPushdown.Fetch f) throws SQLException {
    String where = resolve(f);
    String filter = where == null ? "" : " WHERE " + where;
    StringBuilder sampled = new StringBuilder();
    for (String c : f.sampled()) {
      sampled.append(", (SELECT ").append(c).append(" FROM lineitem_rows").append(filter).append(" LIMIT 1) AS ")
          .append(c);
    }
    List<List<Object>> reduced = runOver(sql, "SELECT " + f.select() + sampled + " FROM lineitem_rows" + filter);
    List<List<Object>> all = runOver(sql, "SELECT * FROM lineitem_rows");
    assertEquals(all, reduced, sql + "\nfetched with WHERE " + where);
    assertFalse(all.isEmpty());
  }

  private List<List<Object>> runOver(String sql, String fetched) throws SQLException {
    try (Statement s = conn.createStatement()) {
      s.execute("CREATE TEMP TABLE lineitem AS " + fetched);
    }
    try (Statement s = conn.createStatement()) {
      try (ResultSet rs = s.executeQuery(sql)) {
        List<List<Object>> rows = new ArrayList<>();
        while (rs.next()) {
          List<Object> row = new ArrayList<>();
          for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
            row.add(rs.getObject(i) == null ? null : rs.getObject(i).toString());
          }
          rows.add(row);
        }
        return rows;
      }
    } finally {
      try (Statement s = conn.createStatement()) {
        s.execute("DROP TABLE temp.main.lineitem");
      }
    }
  }

  @Test
  void aFetchWithoutKeyFiltersKeepsItsWhere() {
    ScanPushdown.Fetch plain = new ScanPushdown.Fetch("*", "(a = 1)");
    assertEquals("(a = 1)", plain.where(k -> Optional.of("never")));
    assertNull(new ScanPushdown.Fetch("*", null).where(k -> Optional.of("never")));
  }
}
