package io.quiver.coordinator.scan;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class AggregatePushdownTest {
  @Test
  void splitsGroupedAggregatesIntoShardAndCombiningParts() {
    AggregatePushdown.Plan p = AggregatePushdown.of("SELECT g, sum(x * (1 - y)) AS s, count(*) AS n, avg(x) AS a, "
        + "min(z) AS lo FROM t WHERE d < DATE '1998-01-01' GROUP BY g ORDER BY g DESC LIMIT 5").orElseThrow();
    assertEquals("t", p.table());
    assertEquals("g, sum(x * (1 - y)) AS __quiver_p0, count(*) AS __quiver_p1, sum(x) AS __quiver_p2s, "
        + "count(x) AS __quiver_p2c, min(z) AS __quiver_p3", p.partialSelect());
    assertEquals(" WHERE d < DATE '1998-01-01' GROUP BY g", p.partialTail());
    assertEquals("SELECT g, sum(__quiver_p0) AS s, CAST(coalesce(sum(__quiver_p1), 0) AS BIGINT) AS n, "
        + "CAST(sum(__quiver_p2s) AS DOUBLE) / CAST(sum(__quiver_p2c) AS DOUBLE) AS a, min(__quiver_p3) AS lo "
        + "FROM parts GROUP BY g ORDER BY g DESC LIMIT 5", p.finalSql("parts"));
    assertEquals("SELECT sum(__quiver_p0) AS revenue FROM parts",
        AggregatePushdown.of("SELECT sum(a * b) AS revenue FROM lineitem WHERE q < 24;").orElseThrow()
            .finalSql("parts"));
  }

  @Test
  void leavesEveryOtherShapeAlone() {
    for (String other : List.of("SELECT * FROM t", "SELECT g, sum(x) FROM t GROUP BY g",
        "SELECT count(DISTINCT x) AS n FROM t", "SELECT sum(x) AS s FROM t, u", "SELECT sum(x) AS s FROM t a",
        "SELECT g, sum(x) AS s FROM t GROUP BY g HAVING sum(x) > 1", "SELECT sum(x) AS s FROM t WHERE x IN (SELECT y FROM u)",
        "SELECT g, sum(x) AS s FROM t GROUP BY g ORDER BY sum(x)", "SELECT sum(x) / sum(y) AS r FROM t",
        "SELECT h, sum(x) AS s FROM t GROUP BY g", "SELECT sum(x) AS s FROM t WHERE y = ?",
        "SELECT g, sum(x) AS s FROM t GROUP BY g + 1", "SELECT sum(sum(x)) AS s FROM t")) {
      assertEquals(Optional.empty(), AggregatePushdown.of(other), other);
    }
  }
}
