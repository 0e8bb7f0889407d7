package io.quiver.coordinator.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import org.junit.jupiter.api.Test;

class WithClauseTest {
  @Test
  void readsEachCommonTableExpressionAndTheMainStatement() {
    WithClause w = WithClause.parse("WITH a AS (SELECT k, sum(v) AS s FROM t GROUP BY k), \"B c\"(x, y) AS "
        + "MATERIALIZED (SELECT 1, (2)), d AS NOT MATERIALIZED (SELECT * FROM a) SELECT * FROM a, \"B c\", d;")
        .orElseThrow();
    assertEquals(3, w.ctes().size());
    assertEquals(new WithClause.Cte("a", null, "SELECT k, sum(v) AS s FROM t GROUP BY k",
        "a AS (SELECT k, sum(v) AS s FROM t GROUP BY k)"), w.ctes().get(0));
    assertEquals("B c", w.ctes().get(1).name());
    assertEquals("(x, y)", w.ctes().get(1).columns());
    assertEquals("SELECT 1, (2)", w.ctes().get(1).body());
    assertEquals("SELECT * FROM a", w.ctes().get(2).body());
    assertEquals("SELECT * FROM a, \"B c\", d", w.main());
    assertEquals("WITH \"B c\"(x, y) AS MATERIALIZED (SELECT 1, (2)), d AS NOT MATERIALIZED (SELECT * FROM a) "
        + "SELECT * FROM a, \"B c\", d", w.without(Set.of("a")));
    assertEquals("SELECT * FROM a, \"B c\", d", w.without(Set.of("a", "B c", "d")));
    assertEquals("x", WithClause.parse("with X as (select 1) select * from x").orElseThrow().ctes().get(0).name(),
        "unquoted names as DuckDB folds them");
  }

  @Test
  void leavesOtherStatementsAlone() {
    assertTrue(WithClause.parse("SELECT 1").isEmpty());
    assertTrue(WithClause.parse("WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT 1 FROM r) SELECT * FROM r").isEmpty());
    assertTrue(WithClause.parse("WITH a AS (SELECT 1)").isEmpty(), "no main statement");
    assertTrue(WithClause.parse("WITH a AS SELECT 1").isEmpty());
    assertTrue(WithClause.parse("WITH a AS () SELECT 1").isEmpty());
    assertTrue(WithClause.parse("WITH a AS (SELECT 'unterminated) SELECT 1").isEmpty());
    assertNull(WithClause.parse("WITH a AS (SELECT 1) SELECT * FROM a").orElseThrow().ctes().get(0).columns());
  }
}
