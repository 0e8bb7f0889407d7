package io.quiver.server.tpch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quiver.coordinator.plan.CalcitePlanner;
import io.quiver.coordinator.plan.FragmentPlanner;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.junit.jupiter.api.Test;

/**
 * The fragment plans of the 22 TPC-H queries over the cluster layout {@code load-tpch} creates,
 * compared with an approved snapshot ({@code src/test/resources/tpch-fragment-plans.txt}): a plan
 * change shows in review. Run with {@code -Dquiver.approve=true} to rewrite the snapshot.
 */
class TpchFragmentPlansTest {
  static final Set<String> AGGREGATES = Set.of("sum", "count", "min", "max", "avg", "any_value", "first", "last",
      "string_agg", "list", "median", "quantile", "stddev", "variance", "bool_and", "bool_or", "count_star",
      "approx_count_distinct", "arg_max", "arg_min", "mode", "product", "histogram");

  static FragmentPlanner.TableInfo info(String name, double sf) {
    Map<String, String> types = new LinkedHashMap<>();
    for (Field f : TpchData.schema(name).getFields()) {
      types.put(f.getName().toLowerCase(Locale.ROOT), duckdbType(f.getType()));
    }
    String config = TpchData.partitionConfig(name, 4);
    String key = config.contains("\"column\"") ? config.replaceAll(".*\"column\": \"([a-z_]+)\".*", "$1") : null;
    String group = name.equals("lineitem") ? "orders" : name;
    return new FragmentPlanner.TableInfo(name, types.keySet(), key, group, TpchData.approxRows(name, sf), types);
  }

  /** The DuckDB type of a TPC-H column's Arrow type. */
  static String duckdbType(ArrowType t) {
    if (t instanceof ArrowType.Int i) {
      return i.getBitWidth() == 64 ? "BIGINT" : "INTEGER";
    }
    if (t instanceof ArrowType.Decimal d) {
      return "DECIMAL(" + d.getPrecision() + "," + d.getScale() + ")";
    }
    return t instanceof ArrowType.Date ? "DATE" : "VARCHAR";
  }

  /** As a coordinator plans: the Calcite planner first, the text planner when it declines. */
  /** The TPC-H tables at SF1, in the layout above. */
  static final FragmentPlanner.Catalog CATALOG = n -> TpchData.TABLES.contains(n) ? Optional.of(info(n, 1))
      : Optional.empty();

  static Optional<FragmentPlanner.Plan> plan(String sql) {
    CalcitePlanner.Outcome calcite = CalcitePlanner.plan(sql, CATALOG);
    return calcite.plan().isPresent() ? calcite.plan() : FragmentPlanner.plan(sql, CATALOG, AGGREGATES);
  }

  static String describe(int q) {
    Optional<FragmentPlanner.Plan> plan = plan(TpchQueries.query(q));
    String head = String.format("q%02d: ", q);
    if (plan.isEmpty()) {
      StringBuilder b = new StringBuilder(head + "gather (no fragment plan: not provably splittable, or a table to "
          + "broadcast is larger than every anchor)\n  (Calcite declined: " + CalcitePlanner.plan(TpchQueries.query(q),
          CATALOG).reason() + ")\n");
      // its aggregating common table expressions that split run first (CteSplits)
      int length = b.length();
      io.quiver.coordinator.plan.WithClause.parse(TpchQueries.query(q)).ifPresent(w -> w.ctes().forEach(c ->
          plan(c.body()).filter(p -> p.combine() != FragmentPlanner.Combine.CONCATENATE)
          .ifPresent(p -> b.append("  cte ").append(c.name()).append(" runs first: ").append(p.strategy())
              .append("\n    partial: ").append(p.partialSql().replaceAll("\\s+", " ")).append("\n    final: ")
              .append(p.finalSql("partials", null, null).replaceAll("\\s+", " ")).append('\n'))));
      if (b.length() == length) { // else stages (Stages): the aggregates the one exchange cannot place run first
        CalcitePlanner.StagedOutcome staged = CalcitePlanner.staged(TpchQueries.query(q), CATALOG);
        if (staged.staged().isEmpty()) {
          b.append("  (no stages: ").append(staged.reason()).append(")\n");
        } else {
          for (CalcitePlanner.Stage stage : staged.staged().get().stages()) {
            b.append("  stage ").append(stage.name()).append(" runs first: ").append(describe(stage.plan(), "    "));
          }
          b.append("  then: ").append(describe(staged.staged().get().rest(), "    "));
        }
      }
      return b.toString();
    }
    FragmentPlanner.Plan p = plan.get();
    if (p.finalQuery() == null) {
      head += "(Calcite declined: " + CalcitePlanner.plan(TpchQueries.query(q), CATALOG).reason() + ")\n  ";
    }
    return head + describe(p, "  ");
  }

  private static String describe(FragmentPlanner.Plan p, String indent) {
    return p.strategy() + "\n" + indent + "partial: " + p.partialSql().replaceAll("\\s+", " ") + "\n" + indent
        + "final: " + p.finalSql("partials", null, null).replaceAll("\\s+", " ")
        + p.keyRestriction().map(r -> "\n" + indent + "shard key restriction: " + r).orElse("") + "\n";
  }

  @Test
  void plansMatchTheApprovedSnapshot() throws Exception {
    String actual = java.util.stream.IntStream.rangeClosed(1, TpchQueries.COUNT).mapToObj(TpchFragmentPlansTest::describe)
        .collect(Collectors.joining());
    Path snapshot = Path.of("src/test/resources/tpch-fragment-plans.txt");
    if (Boolean.getBoolean("quiver.approve") || !Files.exists(snapshot)) {
      Files.createDirectories(snapshot.getParent());
      Files.writeString(snapshot, actual, StandardCharsets.UTF_8);
    }
    assertEquals(Files.readString(snapshot, StandardCharsets.UTF_8), actual,
        "the TPC-H fragment plans changed; review, then approve with -Dquiver.approve=true");
  }
}
