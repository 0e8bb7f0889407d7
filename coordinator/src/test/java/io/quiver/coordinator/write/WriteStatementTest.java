package io.quiver.coordinator.write;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.time.LocalDate;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class WriteStatementTest {
  private static WriteStatement of(String sql) {
    return WriteStatement.of(sql).orElseThrow(() -> new AssertionError("not a write: " + sql));
  }

  @Test
  void findsTheTargetOfEveryWriteAndNothingElse() {
    assertEquals("orders", of("insert into Orders values (1)").table());
    assertEquals("Orders", of("INSERT INTO \"Orders\" SELECT * FROM x").table());
    assertEquals("main", of("INSERT INTO main.orders VALUES (1)").schema());
    assertEquals(WriteStatement.Type.COPY_FROM, of("COPY orders FROM 'x.csv' (HEADER)").type());
    assertEquals(WriteStatement.Type.COPY_FROM, of("COPY orders (a, b) FROM 'x.csv'").type());
    assertEquals(WriteStatement.Type.DELETE, of("-- comment\nDELETE FROM orders WHERE id = 1").type());
    assertEquals(WriteStatement.Type.UPDATE, of("/* c */ UPDATE orders SET a = 1").type());
    for (String other : List.of("SELECT * FROM orders", "COPY orders TO 'x.csv'", "COPY (SELECT 1) TO 'x.csv'",
        "CREATE TABLE t (a INT)", "WITH x AS (SELECT 1) SELECT * FROM x", "", "  ")) {
      assertEquals(Optional.empty(), WriteStatement.of(other), other);
    }
  }

  @Test
  void retargetsAndKeepsTheNameAsAnAlias() {
    assertEquals("INSERT INTO s VALUES ('INSERT INTO orders')", of("INSERT INTO orders VALUES ('INSERT INTO orders')")
        .retarget("s"));
    assertEquals("UPDATE \"orders_1\" AS \"orders\" SET a = orders.a + 1 WHERE orders.id = 2",
        of("UPDATE orders SET a = orders.a + 1 WHERE orders.id = 2").retarget("\"orders_1\""));
    WriteStatement aliased = of("DELETE FROM orders o WHERE o.id = 2");
    assertEquals("DELETE FROM s o WHERE o.id = 2", aliased.retarget("s"));
    assertEquals("o", aliased.alias());
    assertEquals("x", of("UPDATE main.orders AS x SET a = 1").alias());
  }

  @Test
  void updateKnowsItsAssignmentsAndCondition() {
    WriteStatement u = of("UPDATE orders SET amount = amount * 2, \"Id\" = f(id, 'a = b'), (x, y) = (1, 2) "
        + "WHERE id IN (SELECT id FROM t WHERE z = 1) RETURNING *");
    assertEquals(Set.of("amount", "Id", "x", "y"), u.assignedColumns());
    assertEquals("id IN (SELECT id FROM t WHERE z = 1)", u.whereClause());
    assertEquals(List.of("RETURNING"), u.unsupported());
    assertNull(of("UPDATE orders SET a = 1").whereClause());
    assertEquals("a = 1, b = 2", of("UPDATE t SET a = 1, b = 2 WHERE c").setClause());
    assertTrue(of("UPDATE t SET a = 1 FROM u WHERE t.id = u.id").unsupported().contains("UPDATE ... FROM"));
    assertTrue(of("INSERT OR REPLACE INTO t VALUES (1)").unsupported().get(0).startsWith("INSERT OR REPLACE"));
    assertEquals(List.of("ON CONFLICT"), of("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING").unsupported());
  }

  @Test
  void inlinesParametersAsTypedLiterals() {
    assertEquals("DELETE FROM t WHERE a = 1 AND b = 'it''s' AND c = '?' AND d IS NULL AND e = DATE '2024-01-02' "
        + "AND f = 1.50 AND g = from_hex('0aff')",
        WriteStatement.inlineParameters("DELETE FROM t WHERE a = ? AND b = ? AND c = '?' AND d IS ? AND e = ? "
            + "AND f = ? AND g = ?", Arrays.asList(1L, "it's", null, LocalDate.of(2024, 1, 2), new BigDecimal("1.50"),
            new byte[] {10, -1})));
    assertEquals("SELECT 'b', 'a'", WriteStatement.inlineParameters("SELECT $2, $1", List.of("a", "b")));
  }

  @Test
  void aSingleRowOfParametersBecomesASetWiseInsert() {
    assertEquals(Optional.of("INSERT INTO s (a, b) SELECT __p.p1, lower(__p.p2) FROM rows AS __p(p1, p2)"),
        of("INSERT INTO orders (a, b) VALUES (?, lower(?))").asInsertSelect("s", "rows", 2));
    assertEquals(Optional.of("INSERT INTO s SELECT __p.p2, 1 FROM rows AS __p(p1, p2)"),
        of("INSERT INTO orders VALUES ($2, 1);").asInsertSelect("s", "rows", 2));
    assertEquals(Optional.empty(), of("INSERT INTO orders VALUES (?), (?)").asInsertSelect("s", "rows", 2));
    assertEquals(Optional.empty(), of("INSERT INTO orders SELECT ?").asInsertSelect("s", "rows", 1));
  }

  @Test
  void dropTableIsRecognized() {
    assertEquals(Optional.of(new DropTable(null, "orders", false)), DropTable.of("DROP TABLE Orders"));
    assertEquals(Optional.of(new DropTable("main", "Orders", true)), DropTable.of("drop table if exists main.\"Orders\";"));
    assertEquals(Optional.empty(), DropTable.of("DROP TABLE a, b"));
    assertEquals(Optional.empty(), DropTable.of("DROP VIEW v"));
  }
}
