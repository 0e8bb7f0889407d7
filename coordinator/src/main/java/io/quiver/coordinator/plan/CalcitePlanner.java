package io.quiver.coordinator.plan;

import io.quiver.coordinator.plan.FragmentPlanner.Combine;
import io.quiver.coordinator.plan.FragmentPlanner.KeyRestriction;
import io.quiver.coordinator.plan.FragmentPlanner.Plan;
import io.quiver.coordinator.plan.FragmentPlanner.TableInfo;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.calcite.prepare.RelOptTableImpl;
import org.apache.calcite.rel.RelNode;
import org.apache.calcite.rel.core.Aggregate;
import org.apache.calcite.rel.core.AggregateCall;
import org.apache.calcite.rel.core.Filter;
import org.apache.calcite.rel.core.Intersect;
import org.apache.calcite.rel.core.Join;
import org.apache.calcite.rel.core.JoinInfo;
import org.apache.calcite.rel.core.JoinRelType;
import org.apache.calcite.rel.core.Minus;
import org.apache.calcite.rel.core.Project;
import org.apache.calcite.rel.core.RelFactories;
import org.apache.calcite.rel.core.Sort;
import org.apache.calcite.rel.core.TableScan;
import org.apache.calcite.rel.core.Union;
import org.apache.calcite.rel.core.Values;
import org.apache.calcite.rel.logical.LogicalProject;
import org.apache.calcite.rel.logical.LogicalSort;
import org.apache.calcite.rel.logical.LogicalTableScan;
import org.apache.calcite.rel.type.RelDataType;
import org.apache.calcite.rex.RexBuilder;
import org.apache.calcite.rex.RexCall;
import org.apache.calcite.rex.RexInputRef;
import org.apache.calcite.rex.RexLiteral;
import org.apache.calcite.rex.RexNode;
import org.apache.calcite.rex.RexOver;
import org.apache.calcite.rex.RexUtil;
import org.apache.calcite.sql.SqlKind;
import org.apache.calcite.sql.fun.SqlStdOperatorTable;
import org.apache.calcite.sql.type.SqlTypeName;
import org.apache.calcite.tools.RelBuilder;
import org.apache.calcite.util.ImmutableBitSet;

/**
 * The distributed convention over Calcite's optimized plan ({@link CalciteAnalyzer}): derives, node
 * by node, where each intermediate result lives, places the one exchange the engine has (the
 * nodes' rows to the coordinator), and writes the fragment and the final query as DuckDB SQL.
 *
 * <p>Each relation is either <b>split</b> (every row on exactly one fragment; some of its columns
 * may hold the anchor's shard key, the <i>keys</i>, whose shard says which fragment) or
 * <b>whole</b> (every fragment sees all of it: replicated tables, small tables broadcast, and what
 * is computed from them only). The anchor is the largest partitioned table; tables of its
 * co-location group are read in place (split on their partition column); other partitioned tables
 * are broadcast when small, otherwise <b>shuffled</b>: routed by the column they are joined on to
 * a key of a split relation, then split on it.
 *
 * <ul>
 *   <li>Filter and Project keep the placement (a Project keeps the keys it passes through).</li>
 *   <li>A join of two split relations must equate a key of each (co-located or shuffled to meet);
 *       a split side joined to a whole side stays split when the whole side cannot supply
 *       null-extended rows of its own (inner joins; the split side preserved by an outer, semi or
 *       anti join).</li>
 *   <li>An aggregate over a split relation that groups by a key is complete per fragment; any
 *       other needs the exchange: partial aggregates per fragment (AVG as SUM and COUNT, a DISTINCT
 *       aggregate's groups deduplicated per fragment), final aggregates on the coordinator.</li>
 *   <li>ORDER BY with LIMIT runs per fragment (top-N pushed down) and again on the coordinator.</li>
 *   <li>An outer join that keeps every row of a whole side, joined to split rows, may be read only
 *       by the exchange's aggregate, of the null-supplying side's values grouped by the kept side
 *       ({@link Kind#EXTENDED}).</li>
 *   <li>When no anchor can stay in place, or it would broadcast a partitioned table of comparable
 *       size, every large table is hash-shuffled on its join column into one bucket per fragment
 *       (a hash-shuffled join of every side), and the rules hold with buckets for shards.</li>
 * </ul>
 *
 * <p>The exchange may sit only under a chain of single-input operators up to the root; everything
 * else (an aggregate under a join, window functions over split rows, set operations mixing
 * placements, correlations Calcite could not remove) is declined with a reason, and the caller
 * plans the query another way. The SQL is written from the query as written where the operators
 * above the exchange allow it (see {@link #split}).
 */
public final class CalcitePlanner {
  /** The plan, or why there is none. */
  public record Outcome(Optional<Plan> plan, String reason) {}

  private static final class Decline extends RuntimeException {
    Decline(String reason) {
      super(reason, null, false, false);
    }
  }

  /**
   * WHOLE, SPLIT and PENDING as above; EXTENDED: an outer join that keeps every row of a whole side
   * (its columns: {@code keys}), joined to split rows (its columns: {@code nullable}): each fragment
   * adds a null-extended row for a kept row whose matches are elsewhere. Only an aggregate of the
   * null-supplying side's values grouped by the kept side's columns may read it: such a row adds
   * nothing to those aggregates, and the final aggregation adds the fragments' groups up.
   */
  private enum Kind { WHOLE, SPLIT, PENDING, EXTENDED }

  /**
   * Where a relation lives: {@code keys} for SPLIT (the shard-key or bucket columns) and EXTENDED
   * (the kept side's columns); {@code table} and its {@code columns} by output position for
   * PENDING; {@code nullable} for EXTENDED (the null-supplying side's columns).
   */
  private record Dist(Kind kind, Set<Integer> keys, String table, Map<Integer, String> columns,
      Set<Integer> nullable) {
    static final Dist WHOLE = new Dist(Kind.WHOLE, Set.of(), null, Map.of());

    Dist(Kind kind, Set<Integer> keys, String table, Map<Integer, String> columns) {
      this(kind, keys, table, columns, Set.of());
    }

    static Dist extended(Set<Integer> kept, Set<Integer> nullable) {
      return new Dist(Kind.EXTENDED, Set.copyOf(kept), null, Map.of(), Set.copyOf(nullable));
    }

    static Dist split(Set<Integer> keys) {
      return new Dist(Kind.SPLIT, Set.copyOf(keys), null, Map.of());
    }
  }

  private enum Placement { IN_PLACE, WHOLE, SHUFFLED }

  private static final String PRESERVES_WHOLE = "an outer join that keeps every row of a side each fragment reads "
      + "whole, joined to split rows (each fragment would add its own null-extended rows)";
  private static final int PLANS_KEPT = 256;
  /** A broadcast of a partitioned table of at least 1/2 of the anchor's rows: try a hash-shuffled join instead. */
  private static final long REPARTITION_RATIO = 2;
  private static final Map<String, Outcome> PLANS = lru(PLANS_KEPT);

  /** A synchronized map keeping the {@code kept} entries used last. */
  private static <V> Map<String, V> lru(int kept) {
    return Collections.synchronizedMap(new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, V> eldest) {
        return size() > kept;
      }
    });
  }

  private final Map<String, TableInfo> tables;
  private final Map<String, Placement> placement = new LinkedHashMap<>();
  private final Map<String, String> shuffled = new LinkedHashMap<>();
  private final Map<RelNode, Optional<Dist>> derived = new IdentityHashMap<>();
  private TableInfo anchor;
  private boolean completeGroups;
  /** The exchange's aggregate reads an outer join that keeps a whole side ({@link Kind#EXTENDED}). */
  private boolean regrouped;

  /** True when every partitioned table is hash-shuffled on its join column (see {@link #planUncached}). */
  private final boolean repartition;

  /**
   * True when a tree whose every input is whole may run as one fragment on a node holding its
   * largest replicated table (the rest of a staged plan over the stages' rows).
   */
  private final boolean oneFragment;

  private CalcitePlanner(Map<String, TableInfo> tables, boolean repartition, boolean oneFragment) {
    this.tables = tables;
    this.repartition = repartition;
    this.oneFragment = oneFragment;
  }

  /**
   * Plans {@code sql}, or says why not. Plans are kept per statement text and the state of the
   * tables it names (columns, partitioning, rows): a statement run again is not analyzed again.
   */
  public static Outcome plan(String sql, FragmentPlanner.Catalog catalog) {
    return cached(PLANS, sql, catalog, CalcitePlanner::planUncached);
  }

  /**
   * {@code compute}'s answer for {@code sql} over the tables it names, kept in {@code cache} per
   * statement text and table state.
   */
  private static <V> V cached(Map<String, V> cache, String sql, FragmentPlanner.Catalog catalog,
      java.util.function.BiFunction<String, Map<String, TableInfo>, V> compute) {
    Map<String, TableInfo> named = CalciteAnalyzer.tablesNamed(sql, catalog);
    String key = sql + '\u0000' + named;
    V cached = cache.get(key);
    if (cached != null) {
      return cached;
    }
    V computed = compute.apply(sql, named);
    cache.put(key, computed);
    return computed;
  }

  /**
   * Calcite's analysis of {@code sql} over {@code named}, or why there is none (no partitioned
   * table, or Calcite's failure). Each caller gets its own tree: Calcite's metadata caches on a
   * tree's cluster are not safe to share between threads.
   */
  private static CalciteAnalyzer.Analysis analysis(String sql, Map<String, TableInfo> named) {
    if (named.values().stream().allMatch(TableInfo::replicated)) {
      return new CalciteAnalyzer.Analysis(Optional.empty(), "it reads no partitioned table", null);
    }
    return CalciteAnalyzer.analyze(sql, named);
  }

  /** Plans a query over a made-up table once, so that Calcite's classes are loaded and compiled. */
  public static void warmUp() {
    Map<String, String> types = new LinkedHashMap<>();
    types.put("k", "BIGINT");
    types.put("v", "DECIMAL(15,2)");
    TableInfo t = new TableInfo("__quiver_warm_up", types.keySet(), "k", "__quiver_warm_up", 1_000_000, types);
    planUncached("SELECT v, count(*), avg(k) FROM __quiver_warm_up WHERE k > 10 AND v IN (SELECT max(v) FROM "
        + "__quiver_warm_up) GROUP BY v ORDER BY v LIMIT 10", Map.of(t.name(), t));
  }

  private static Outcome planUncached(String sql, Map<String, TableInfo> named) {
    CalciteAnalyzer.Analysis analysis = analysis(sql, named);
    if (analysis.rel().isEmpty()) {
      return new Outcome(Optional.empty(), analysis.failure());
    }
    return splitTree(named, analysis.rel().get(), analysis.plain(), false);
  }

  /**
   * The plan of {@code root} with its anchor in place, or, when there is none or it broadcasts a
   * partitioned table of comparable size, a hash-shuffled join of every side if the joins allow it.
   * {@code plain}: the same tree as written, or null to write the SQL from {@code root}.
   */
  private static Outcome splitTree(Map<String, TableInfo> named, RelNode root, RelNode plain, boolean oneFragment) {
    Outcome inPlace = split(named, root, plain, false, oneFragment);
    if (inPlace.plan().map(p -> !broadcastsLarge(p, named)).orElse(false)) {
      return inPlace;
    }
    Outcome hashed = split(named, root, plain, true, false);
    return hashed.plan().isPresent() ? hashed : inPlace;
  }

  private static Outcome split(Map<String, TableInfo> named, RelNode root, RelNode plain, boolean repartition,
      boolean oneFragment) {
    try {
      return new Outcome(Optional.of(new CalcitePlanner(named, repartition, oneFragment).split(root, plain)), null);
    } catch (Decline d) {
      return new Outcome(Optional.empty(), d.getMessage());
    } catch (RuntimeException | AssertionError e) {
      return new Outcome(Optional.empty(), "the Calcite planner failed: " + e);
    }
  }

  // ------------------------------------------------------------------------------------------ stages

  /** The name prefix of a stage's rows: a table on the coordinator, sent to the fragments that read it. */
  public static final String STAGE_PREFIX = "__quiver_stage_";
  /** Aggregates that may run as stages at most: every subset of these is tried. */
  private static final int STAGE_CANDIDATES_MAX = 6;
  /** Stages of stages at most this deep. */
  private static final int STAGE_DEPTH_MAX = 3;
  private static final Map<String, StagedOutcome> STAGED = lru(PLANS_KEPT);

  /**
   * A stage: an aggregate of the statement computed first, by a split of its own ({@code plan},
   * over {@code sql}: the aggregate alone, its columns named as in the plan), its rows kept under
   * {@code name} on the coordinator and sent whole to the fragments of every later split that
   * reads them. Its own plan may read earlier stages.
   */
  public record Stage(String name, String sql, Plan plan) {}

  /** The stages in the order they run, and the plan of the statement over their rows. */
  public record Staged(List<Stage> stages, Plan rest) {}

  /** The staged plan, or why there is none. */
  public record StagedOutcome(Optional<Staged> staged, String reason) {}

  /**
   * {@code sql} as more than one exchange: the aggregates that the one-exchange plan cannot place
   * (an aggregate under a join, a scalar sub-query's aggregate) run first, each as a split whose
   * rows the coordinator gathers and then sends to the fragments of the next split (a broadcast of
   * an intermediate result). The fewest stages that make the rest splittable are chosen; a stage
   * may have stages of its own. Kept per statement text and table state, as {@link #plan}.
   */
  public static StagedOutcome staged(String sql, FragmentPlanner.Catalog catalog) {
    return cached(STAGED, sql, catalog, CalcitePlanner::stagedUncached);
  }

  private static StagedOutcome stagedUncached(String sql, Map<String, TableInfo> named) {
    CalciteAnalyzer.Analysis analysis = analysis(sql, named);
    if (analysis.rel().isEmpty()) {
      return new StagedOutcome(Optional.empty(), analysis.failure());
    }
    List<Stage> stages = new ArrayList<>();
    try {
      Plan rest = stagedPlan(named, analysis.rel().get(), stages, 0);
      if (stages.isEmpty()) {
        return new StagedOutcome(Optional.empty(), "it needs no stage");
      }
      return new StagedOutcome(Optional.of(new Staged(List.copyOf(stages), rest)), null);
    } catch (Decline d) {
      return new StagedOutcome(Optional.empty(), d.getMessage());
    } catch (RuntimeException | AssertionError e) {
      return new StagedOutcome(Optional.empty(), "the Calcite planner failed: " + e);
    }
  }

  /**
   * The plan of {@code root}, with the stages it needs appended to {@code stages} (their own
   * stages first): the tree's own plan when it has one, else the first subset of its candidate
   * aggregates, smallest first, that makes it splittable once they are stages.
   */
  private static Plan stagedPlan(Map<String, TableInfo> named, RelNode root, List<Stage> stages, int depth) {
    Outcome direct = splitTree(named, root, null, true);
    if (direct.plan().isPresent()) {
      return direct.plan().get();
    }
    if (depth >= STAGE_DEPTH_MAX) {
      throw new Decline(direct.reason() + " (and stages nest deeper than " + STAGE_DEPTH_MAX + ")");
    }
    List<RelNode> candidates = new ArrayList<>();
    stageCandidates(root, true, named, candidates);
    if (candidates.isEmpty()) {
      throw new Decline(direct.reason());
    }
    if (candidates.size() > STAGE_CANDIDATES_MAX) {
      candidates = candidates.subList(0, STAGE_CANDIDATES_MAX);
    }
    List<Integer> subsets = new ArrayList<>();
    for (int m = 1; m < 1 << candidates.size(); m++) {
      subsets.add(m);
    }
    subsets.sort(java.util.Comparator.comparingInt(Integer::bitCount)); // fewest stages first
    String reason = direct.reason();
    for (int m : subsets) {
      List<Stage> tried = new ArrayList<>(stages);
      Map<RelNode, RelNode> scans = new IdentityHashMap<>();
      try {
        for (int i = 0; i < candidates.size(); i++) {
          if ((m & 1 << i) != 0) {
            RelNode c = candidates.get(i);
            RelNode computed = c;
            Plan own = null;
            Optional<RelNode> reduced = reduced(root, c, named);
            if (reduced.isPresent()) {
              List<Stage> attempt = new ArrayList<>(tried);
              try {
                own = stagedPlan(named, reduced.get(), attempt, depth + 1);
                computed = reduced.get();
                tried.clear();
                tried.addAll(attempt);
              } catch (Decline d) {
                own = null; // the reduction cannot be split with it: the whole aggregate, then
              }
            }
            if (own == null) {
              own = stagedPlan(named, c, tried, depth + 1);
            }
            String name = STAGE_PREFIX + (tried.size() + 1);
            tried.add(new Stage(name, stageSql(computed, name), own));
            scans.put(c, LogicalTableScan.create(c.getCluster(), RelOptTableImpl.create(null, c.getRowType(),
                List.of(name), (org.apache.calcite.linq4j.tree.Expression) null), List.of()));
          }
        }
      } catch (Decline d) {
        continue; // a stage of this subset cannot be split itself
      }
      Outcome rest = splitTree(named, replaced(root, scans), null, true);
      if (rest.plan().isPresent()) {
        stages.clear();
        stages.addAll(tried);
        return rest.plan().get();
      }
      reason = rest.reason();
    }
    throw new Decline(reason + " (also with its aggregates run first as stages)");
  }

  /**
   * The stage aggregate {@code c} reduced to the groups its consumer can use (a semi-join
   * reduction, as magic sets and dynamic filters do): when {@code c} reaches a join only through
   * projections and filters, on a side whose unmatched rows the join drops, and the join equates
   * one of {@code c}'s group columns ({@code =}, not null-safe) with a column whose every value
   * comes from a filtered table (followed through projections, filters, inner and semi join
   * equalities and group columns), {@code c}'s input keeps only the rows whose group column is
   * among that table's filtered values. Among such tables, the smallest. Empty when there is none.
   */
  private static Optional<RelNode> reduced(RelNode root, RelNode c, Map<String, TableInfo> named) {
    if (!(c instanceof Aggregate agg) || agg.getGroupType() != Aggregate.Group.SIMPLE) {
      return Optional.empty();
    }
    List<RelNode> path = new ArrayList<>();
    if (!pathTo(root, c, path)) {
      return Optional.empty();
    }
    // path: root ... c; the nearest join above c, with only projections and filters between
    for (int i = path.size() - 2; i >= 0; i--) {
      RelNode at = path.get(i);
      if (at instanceof Project || at instanceof Filter) {
        continue;
      }
      if (!(at instanceof Join j)) {
        return Optional.empty();
      }
      boolean cLeft = j.getLeft() == path.get(i + 1);
      boolean drops = switch (j.getJoinType()) {
        case INNER -> true;
        case LEFT, SEMI, ANTI -> !cLeft;
        case RIGHT -> cLeft;
        default -> false;
      };
      if (!drops) {
        return Optional.empty();
      }
      JoinInfo strict = JoinInfo.createWithStrictEquality(j.getLeft(), j.getRight(), j.getCondition());
      Origin best = null;
      int bestGroup = -1;
      for (int k = 0; k < strict.leftKeys.size(); k++) {
        int mine = cLeft ? strict.leftKeys.get(k) : strict.rightKeys.get(k);
        int theirs = cLeft ? strict.rightKeys.get(k) : strict.leftKeys.get(k);
        int column = columnBelow(path.subList(i + 1, path.size()), mine);
        if (column < 0 || column >= agg.getGroupCount()) {
          continue;
        }
        List<Origin> origins = new ArrayList<>();
        origins(cLeft ? j.getRight() : j.getLeft(), theirs, named, origins, 0);
        long largest = largestPartitioned(agg, named);
        for (Origin o : origins) {
          // only a table the stage reads whole (replicated, or broadcast as small), or it would need a stage itself
          boolean whole = o.replicated() || o.rows() < FragmentPlanner.SHUFFLE_MIN_ROWS
              || o.rows() * FragmentPlanner.SHUFFLE_RATIO < largest;
          if (o.filtered() && whole && (best == null || o.rows() < best.rows())) {
            best = o;
            bestGroup = column;
          }
        }
      }
      if (best == null) {
        return Optional.empty();
      }
      RelBuilder b = RelFactories.LOGICAL_BUILDER.create(agg.getCluster(), null);
      int inputColumn = agg.getGroupSet().nth(bestGroup);
      // a join with the distinct values: Calcite writes a semi-join over a sub-select with two aliases
      int fields = agg.getInput().getRowType().getFieldCount();
      b.push(agg.getInput());
      b.push(best.block()).project(b.field(best.column())).distinct();
      b.join(JoinRelType.INNER, b.equals(b.field(2, 0, inputColumn), b.field(2, 1, 0)));
      List<RexNode> kept = new ArrayList<>();
      for (int f = 0; f < fields; f++) {
        kept.add(b.field(f));
      }
      b.project(kept, agg.getInput().getRowType().getFieldNames(), true);
      return Optional.of(agg.copy(agg.getTraitSet(), List.of(b.build())));
    }
    return Optional.empty();
  }

  /** A table's rows (a chain of filters and projections over its scan) and the column holding the values. */
  private record Origin(RelNode block, int column, boolean filtered, long rows, boolean replicated) {}

  /** The rows of the largest partitioned table {@code n} reads. */
  private static long largestPartitioned(RelNode n, Map<String, TableInfo> named) {
    if (n instanceof TableScan scan) {
      List<String> name = scan.getTable().getQualifiedName();
      TableInfo info = named.get(name.get(name.size() - 1));
      return info == null || info.replicated() ? 0 : info.rows();
    }
    long max = 0;
    for (RelNode i : n.getInputs()) {
      max = Math.max(max, largestPartitioned(i, named));
    }
    return max;
  }

  private static boolean pathTo(RelNode n, RelNode target, List<RelNode> path) {
    path.add(n);
    if (n == target) {
      return true;
    }
    for (RelNode i : n.getInputs()) {
      if (pathTo(i, target, path)) {
        return true;
      }
    }
    path.remove(path.size() - 1);
    return false;
  }

  /** Column {@code column} of {@code chain.get(0)} followed down projections and filters to the last node's column. */
  private static int columnBelow(List<RelNode> chain, int column) {
    for (int i = 0; i < chain.size() - 1; i++) {
      RelNode at = chain.get(i);
      if (at instanceof Project p) {
        if (!(p.getProjects().get(column) instanceof RexInputRef r)) {
          return -1;
        }
        column = r.getIndex();
      } else if (!(at instanceof Filter)) {
        return -1;
      }
    }
    return column;
  }

  /** The tables whose filtered rows hold every value column {@code col} of {@code n} can have. */
  private static void origins(RelNode n, int col, Map<String, TableInfo> named, List<Origin> out, int depth) {
    if (depth > 32) {
      return;
    }
    Optional<Origin> leaf = leafBlock(n, col, named);
    if (leaf.isPresent()) {
      out.add(leaf.get());
      return;
    }
    if (n instanceof Project p) {
      if (p.getProjects().get(col) instanceof RexInputRef r) {
        origins(p.getInput(), r.getIndex(), named, out, depth + 1);
      }
    } else if (n instanceof Filter || n instanceof Sort) {
      origins(n.getInput(0), col, named, out, depth + 1);
    } else if (n instanceof Aggregate a && a.getGroupType() == Aggregate.Group.SIMPLE && col < a.getGroupCount()) {
      origins(a.getInput(), a.getGroupSet().nth(col), named, out, depth + 1);
    } else if (n instanceof Join j) {
      int nLeft = j.getLeft().getRowType().getFieldCount();
      boolean left = col < nLeft;
      if (left) {
        origins(j.getLeft(), col, named, out, depth + 1);
      } else if (j.getJoinType().projectsRight()) {
        origins(j.getRight(), col - nLeft, named, out, depth + 1);
      }
      // an inner or semi join's rows have equal values on both sides of each equality
      if (j.getJoinType() == JoinRelType.INNER || j.getJoinType() == JoinRelType.SEMI && left) {
        JoinInfo info = j.analyzeCondition();
        for (int k = 0; k < info.leftKeys.size(); k++) {
          if (left && info.leftKeys.get(k) == col) {
            origins(j.getRight(), info.rightKeys.get(k), named, out, depth + 1);
          } else if (!left && info.rightKeys.get(k) == col - nLeft) {
            origins(j.getLeft(), info.leftKeys.get(k), named, out, depth + 1);
          }
        }
      }
    }
  }

  /** {@code n} as filters and projections over the scan of a cluster table, with its column {@code col}. */
  private static Optional<Origin> leafBlock(RelNode n, int col, Map<String, TableInfo> named) {
    boolean filtered = false;
    for (RelNode at = n; ; at = at.getInput(0)) {
      if (at instanceof TableScan scan) {
        List<String> name = scan.getTable().getQualifiedName();
        TableInfo info = named.get(name.get(name.size() - 1));
        return info == null ? Optional.empty() : Optional.of(new Origin(n, col, filtered, info.rows(),
            info.replicated()));
      }
      if (at instanceof Filter f) {
        filtered |= !RexUtil.SubQueryFinder.containsSubQuery(f);
      } else if (!(at instanceof Project)) {
        return Optional.empty();
      }
    }
  }

  /**
   * The aggregates that read partitioned tables and are not on the chain of single-input operators
   * under the root (where the one exchange already places them), outermost first.
   */
  private static void stageCandidates(RelNode n, boolean onChain, Map<String, TableInfo> named, List<RelNode> out) {
    if (!onChain && n instanceof Aggregate && readsPartitioned(n, named)
        && org.apache.calcite.plan.RelOptUtil.getVariablesUsed(n).isEmpty()) {
      out.add(n);
      return;
    }
    boolean single = n.getInputs().size() == 1;
    for (RelNode i : n.getInputs()) {
      stageCandidates(i, onChain && single, named, out);
    }
  }

  private static boolean readsPartitioned(RelNode n, Map<String, TableInfo> named) {
    if (n instanceof TableScan scan) {
      List<String> name = scan.getTable().getQualifiedName();
      TableInfo info = named.get(name.get(name.size() - 1));
      return info != null && !info.replicated();
    }
    return n.getInputs().stream().anyMatch(i -> readsPartitioned(i, named));
  }

  /** {@code n} with the subtrees in {@code scans} replaced by their stage's scan. */
  private static RelNode replaced(RelNode n, Map<RelNode, RelNode> scans) {
    RelNode scan = scans.get(n);
    if (scan != null) {
      return scan;
    }
    List<RelNode> inputs = new ArrayList<>();
    boolean changed = false;
    for (RelNode i : n.getInputs()) {
      RelNode r = replaced(i, scans);
      changed |= r != i;
      inputs.add(r);
    }
    return changed ? n.copy(n.getTraitSet(), inputs) : n;
  }

  /** The SQL of a stage: the aggregate alone, its columns renamed to the names its scan has in the plan. */
  private static String stageSql(RelNode aggregate, String name) {
    List<String> columns = aggregate.getRowType().getFieldNames().stream().map(FragmentPlanner::quote).toList();
    return "SELECT * FROM (" + CalciteAnalyzer.toSql(aggregate) + ") AS " + FragmentPlanner.quote(name) + "("
        + String.join(", ", columns) + ")";
  }

  private static boolean isStage(TableScan scan) {
    List<String> name = scan.getTable().getQualifiedName();
    return name.size() == 1 && name.get(0).startsWith(STAGE_PREFIX);
  }

  /** The plan broadcasts a partitioned table of at least half the anchor's rows. */
  private static boolean broadcastsLarge(Plan p, Map<String, TableInfo> named) {
    long anchorRows = named.get(p.anchor()).rows();
    return p.broadcast().stream().map(named::get).anyMatch(t -> !t.replicated()
        && t.rows() * REPARTITION_RATIO >= anchorRows);
  }

  /**
   * Places the exchange on the optimized plan {@code root}, where every proof holds, and writes the
   * fragment and final query from {@code plain} (the plan as written, sub-queries kept) when its
   * operators above the exchange are the same: DuckDB decorrelates and orders joins better than
   * Calcite's decorrelated form (TPC-H Q4, Q17 and Q21 run 2-5 times slower from it). Both are
   * the same query, so the rows under the exchange are the same too.
   */
  private Plan split(RelNode root, RelNode plain) {
    List<TableScan> scans = new ArrayList<>();
    collectScans(root, scans);
    place(scans);
    Optional<Dist> whole = derive(root);
    if (anchor.replicated()) {
      // every input whole (oneFragment): one fragment, on a node holding the anchor, runs all of it
      if (whole.isEmpty() || whole.get().kind() != Kind.WHOLE) {
        throw new Decline("it reads no partitioned table");
      }
      String[] sql = sql(root, null, 0);
      List<String> broadcast = new ArrayList<>();
      placement.forEach((t, p) -> {
        if (!t.equals(anchor.name())) {
          broadcast.add(t);
        }
      });
      return new Plan(anchor.name(), List.of(anchor.name()), List.copyOf(broadcast), Map.of(), Combine.CONCATENATE,
          sql[0], List.of(), "", false, Optional.empty(), false, false, List.of(), sql[1]);
    }
    Combine combine;
    List<RelNode> chain = new ArrayList<>();
    RelNode x = null;
    if (whole.isPresent()) {
      Dist d = whole.get();
      if (d.kind() == Kind.EXTENDED) {
        throw new Decline(PRESERVES_WHOLE);
      }
      if (d.kind() != Kind.SPLIT) {
        throw new Decline(d.kind() == Kind.PENDING ? "table " + d.table() + " is not joined to the rows of "
            + anchor.name() + " on its shard key" : "no part of it reads the shards of " + anchor.name());
      }
      combine = completeGroups ? Combine.COMPLETE_GROUPS : Combine.CONCATENATE;
    } else {
      x = root;
      while (true) {
        boolean aggregate = x instanceof Aggregate;
        if ((aggregate || (x instanceof Sort s && s.fetch != null)) && derive(x.getInput(0)).map(d ->
            d.kind() == Kind.SPLIT || aggregate && d.kind() == Kind.EXTENDED).orElse(false)) {
          break;
        }
        if (!(x instanceof Project || x instanceof Filter || x instanceof Sort || x instanceof Aggregate)) {
          throw new Decline("the rows of the fragments would meet another input (" + x.getRelTypeName()
              + ") above them, which needs more than one exchange");
        }
        chain.add(x);
        x = x.getInput(0);
      }
      combine = x instanceof Aggregate ? Combine.PARTIAL_AGGREGATE
          : completeGroups ? Combine.COMPLETE_GROUPS : Combine.CONCATENATE;
    }
    if (!shuffled.keySet().equals(keysOf(Placement.SHUFFLED)) || repartition && !shuffled.containsKey(anchor.name())) {
      throw new Decline(repartition ? "a table is not joined to the others on a column it can be hash-shuffled by"
          : "a large table of another co-location group is not joined on a shard key");
    }
    String[] sql = null;
    Optional<RelNode[]> asWritten = plain == null ? Optional.empty() : corresponding(plain, root, chain, x);
    if (asWritten.isPresent()) {
      try {
        sql = sql(plain, asWritten.get()[0], chain.size());
      } catch (RuntimeException | AssertionError e) {
        sql = null; // Calcite cannot write this form as SQL (a nested aggregate, say): the optimized one
      }
    }
    if (sql == null) {
      sql = sql(root, x, chain.size());
    }
    String partialSql = sql[0];
    String finalQuery = sql[1];
    List<String> grouped = new ArrayList<>();
    List<String> broadcast = new ArrayList<>();
    if (repartition) {
      placement.forEach((t, p) -> {
        if (p == Placement.WHOLE) {
          broadcast.add(t);
        }
      });
      Map<String, String> bucketed = new LinkedHashMap<>();
      bucketed.put(anchor.name(), shuffled.get(anchor.name())); // the anchor first
      bucketed.putAll(shuffled);
      return new Plan(anchor.name(), List.of(), List.copyOf(broadcast), Collections.unmodifiableMap(bucketed),
          combine, partialSql, List.of(), "", false, Optional.empty(), true, false, List.of(), finalQuery);
    }
    grouped.add(anchor.name());
    placement.forEach((t, p) -> {
      if (p == Placement.IN_PLACE && !t.equals(anchor.name())) {
        grouped.add(t);
      } else if (p == Placement.WHOLE) {
        broadcast.add(t);
      }
    });
    return new Plan(anchor.name(), List.copyOf(grouped), List.copyOf(broadcast), Map.copyOf(shuffled), combine,
        partialSql, List.of(), "", false, keyRestriction(root, scans), false, regrouped, List.of(), finalQuery);
  }

  /**
   * [fragment SQL, final SQL] of the tree {@code root} cut at {@code x} (null: the whole tree is
   * split), {@code depth} single-input operators under the root.
   */
  private static String[] sql(RelNode root, RelNode x, int depth) {
    RelNode fragment;
    RelNode finalRel;
    if (x == null) {
      if (root instanceof Sort sort) {
        fragment = sort.fetch == null ? sort.getInput() : topN(sort);
        finalRel = sort.copy(sort.getTraitSet(), List.of(partials(fragment)));
      } else {
        fragment = root;
        finalRel = partials(fragment);
      }
    } else {
      RelNode exchanged;
      if (x instanceof Aggregate agg) {
        Cut cut = splitAggregate(agg);
        fragment = cut.fragment();
        exchanged = cut.finalRel();
      } else {
        Sort sort = (Sort) x;
        fragment = topN(sort);
        exchanged = sort.copy(sort.getTraitSet(), List.of(partials(fragment)));
      }
      List<RelNode> chain = new ArrayList<>();
      for (RelNode at = root; chain.size() < depth; at = at.getInput(0)) {
        chain.add(at);
      }
      for (int i = chain.size() - 1; i >= 0; i--) {
        exchanged = chain.get(i).copy(chain.get(i).getTraitSet(), List.of(exchanged));
      }
      finalRel = exchanged;
    }
    String finalQuery = CalciteAnalyzer.toSql(finalRel);
    if (!finalQuery.contains(Plan.PARTIALS)) {
      throw new Decline("the final query does not read the fragments' rows");
    }
    return new String[] {CalciteAnalyzer.toSql(fragment), finalQuery};
  }

  /**
   * In {@code plain}, the cut that corresponds to {@code x} under {@code chain} of the optimized
   * plan {@code root} ({@code x} null: the whole tree is split): a one-element array holding the
   * node (null when {@code x} is), when the operators from the root down to it are the same (same
   * expressions, no sub-query among them) and it is the same kind of aggregate or top-N; empty
   * otherwise.
   */
  private static Optional<RelNode[]> corresponding(RelNode plain, RelNode root, List<RelNode> chain, RelNode x) {
    if (x == null) {
      boolean sorted = root instanceof Sort;
      return sorted != plain instanceof Sort || sorted && !sameOperator(root, plain) ? Optional.empty()
          : Optional.of(new RelNode[] {null});
    }
    RelNode at = plain;
    for (RelNode c : chain) {
      if (!sameOperator(c, at)) {
        return Optional.empty();
      }
      at = at.getInput(0);
    }
    if (x instanceof Sort s && at instanceof Sort t && sameOperator(s, t)) {
      return Optional.of(new RelNode[] {at});
    }
    if (x instanceof Aggregate a && at instanceof Aggregate b && a.getGroupCount() == b.getGroupCount()
        && a.getGroupType() == b.getGroupType() && a.getRowType().equals(b.getRowType())
        && a.getAggCallList().size() == b.getAggCallList().size()) {
      for (int i = 0; i < a.getAggCallList().size(); i++) {
        AggregateCall ca = a.getAggCallList().get(i);
        AggregateCall cb = b.getAggCallList().get(i);
        if (ca.getAggregation() != cb.getAggregation() || ca.isDistinct() != cb.isDistinct()
            || ca.getArgList().size() != cb.getArgList().size() || (ca.filterArg < 0) != (cb.filterArg < 0)) {
          return Optional.empty();
        }
      }
      return Optional.of(new RelNode[] {at});
    }
    return Optional.empty();
  }

  /** The same operator with the same expressions, none a sub-query. */
  private static boolean sameOperator(RelNode a, RelNode b) {
    if (a.getClass() != b.getClass() || !a.getRowType().equals(b.getRowType())) {
      return false;
    }
    if (a instanceof Project p && b instanceof Project q) {
      return p.getProjects().toString().equals(q.getProjects().toString())
          && !RexUtil.SubQueryFinder.containsSubQuery(q);
    }
    if (a instanceof Filter p && b instanceof Filter q) {
      return p.getCondition().toString().equals(q.getCondition().toString())
          && !RexUtil.SubQueryFinder.containsSubQuery(q);
    }
    if (a instanceof Sort p && b instanceof Sort q) {
      return p.getCollation().equals(q.getCollation()) && String.valueOf(p.fetch).equals(String.valueOf(q.fetch))
          && String.valueOf(p.offset).equals(String.valueOf(q.offset));
    }
    if (a instanceof Aggregate p && b instanceof Aggregate q) {
      return p.getGroupSet().equals(q.getGroupSet()) && p.getAggCallList().toString().equals(
          q.getAggCallList().toString());
    }
    return false;
  }

  private Set<String> keysOf(Placement p) {
    Set<String> out = new HashSet<>();
    placement.forEach((t, q) -> {
      if (q == p) {
        out.add(t);
      }
    });
    return out;
  }

  private static void collectScans(RelNode n, List<TableScan> out) {
    if (n instanceof TableScan scan && !isStage(scan)) {
      out.add(scan);
    }
    n.getInputs().forEach(i -> collectScans(i, out));
  }

  private TableInfo info(TableScan scan) {
    List<String> name = scan.getTable().getQualifiedName();
    TableInfo info = tables.get(name.get(name.size() - 1));
    if (info == null) {
      throw new Decline("it reads " + name + ", which is not a cluster table");
    }
    return info;
  }

  /** The anchor and how every other table is read. */
  private void place(List<TableScan> scans) {
    for (TableScan scan : scans) {
      TableInfo info = info(scan);
      if (!info.replicated() && (anchor == null || info.rows() > anchor.rows())) {
        anchor = info;
      }
    }
    if (anchor == null && oneFragment) {
      for (TableScan scan : scans) {
        TableInfo info = info(scan);
        if (anchor == null || info.rows() > anchor.rows()) {
          anchor = info;
        }
      }
    }
    if (anchor == null) {
      throw new Decline("it reads no partitioned table");
    }
    for (TableScan scan : scans) {
      TableInfo info = info(scan);
      Placement p;
      if (info.replicated()) {
        p = Placement.WHOLE;
      } else if (repartition) {
        p = info.name().equals(anchor.name()) || info.rows() >= FragmentPlanner.SHUFFLE_MIN_ROWS
            && info.rows() * FragmentPlanner.SHUFFLE_RATIO >= anchor.rows() ? Placement.SHUFFLED : Placement.WHOLE;
      } else if (info.group().equals(anchor.group())) {
        p = Placement.IN_PLACE;
      } else if (info.rows() < FragmentPlanner.SHUFFLE_MIN_ROWS
          || info.rows() * FragmentPlanner.SHUFFLE_RATIO < anchor.rows()) {
        p = Placement.WHOLE;
      } else {
        p = Placement.SHUFFLED;
      }
      placement.put(info.name(), p);
    }
  }

  private Optional<Dist> derive(RelNode n) {
    Optional<Dist> d = derived.get(n);
    if (d == null) {
      d = Optional.ofNullable(deriveNew(n));
      derived.put(n, d);
    }
    return d;
  }

  /** The placement of {@code n}'s rows; null when they exist only after an exchange. */
  private Dist deriveNew(RelNode n) {
    if (n instanceof TableScan scan && isStage(scan)) {
      return Dist.WHOLE; // a stage's rows, sent whole to every fragment
    }
    if (n instanceof TableScan scan) {
      TableInfo info = info(scan);
      return switch (placement.get(info.name())) {
        case WHOLE -> Dist.WHOLE;
        case IN_PLACE -> Dist.split(Set.of(columnIndex(scan, info.partitionColumn())));
        case SHUFFLED -> {
          Map<Integer, String> columns = new LinkedHashMap<>();
          List<String> names = scan.getRowType().getFieldNames();
          for (int i = 0; i < names.size(); i++) {
            columns.put(i, names.get(i));
          }
          yield new Dist(Kind.PENDING, Set.of(), info.name(), columns);
        }
      };
    }
    if (n instanceof Values) {
      return Dist.WHOLE;
    }
    List<Dist> in = new ArrayList<>();
    for (RelNode i : n.getInputs()) {
      Optional<Dist> d = derive(i);
      if (d.isEmpty()) {
        return null;
      }
      in.add(d.get());
    }
    if (n instanceof Filter f) {
      if (in.get(0).kind() == Kind.EXTENDED && !in.get(0).keys().containsAll(
          org.apache.calcite.plan.RelOptUtil.InputFinder.bits(f.getCondition()).asList())) {
        throw new Decline("a condition on the null-supplying side of an outer join that keeps every row of a side "
            + "each fragment reads whole");
      }
      return in.get(0);
    }
    if (n instanceof Project p) {
      return project(p, in.get(0));
    }
    if (n instanceof Sort s) {
      return s.fetch == null && s.offset == null || in.get(0).kind() == Kind.WHOLE ? pendingIsSplit(in.get(0), s)
          : null;
    }
    if (n instanceof Aggregate a) {
      return aggregate(a, in.get(0));
    }
    if (n instanceof Join j) {
      return join(j, in.get(0), in.get(1));
    }
    if (n instanceof Union u) {
      return union(u, in);
    }
    if (n instanceof Minus || n instanceof Intersect) {
      return setOperation(n instanceof Minus, in);
    }
    throw new Decline("the Calcite planner does not place " + n.getRelTypeName() + " yet");
  }

  private Dist pendingIsSplit(Dist d, RelNode at) {
    if (d.kind() == Kind.PENDING) {
      throw new Decline("table " + d.table() + " is read by " + at.getRelTypeName() + " before it is joined on a "
          + "shard key");
    }
    return d;
  }

  private static int columnIndex(TableScan scan, String column) {
    int i = scan.getRowType().getFieldNames().indexOf(column);
    if (i < 0) {
      throw new Decline("partition column " + column + " not found");
    }
    return i;
  }

  private Dist project(Project p, Dist in) {
    if (RexOver.containsOver(p.getProjects(), null) && in.kind() != Kind.WHOLE && !partitionedByKey(p, in)) {
      throw new Decline("window functions over split rows, not partitioned by a shard key");
    }
    if (in.kind() == Kind.WHOLE) {
      return in;
    }
    if (in.kind() == Kind.EXTENDED) {
      Set<Integer> kept = new LinkedHashSet<>();
      Set<Integer> nullable = new LinkedHashSet<>();
      for (int i = 0; i < p.getProjects().size(); i++) {
        RexNode e = p.getProjects().get(i);
        List<Integer> refs = org.apache.calcite.plan.RelOptUtil.InputFinder.bits(e).asList();
        if (in.keys().containsAll(refs)) {
          kept.add(i); // a function of the kept side's columns (or a constant)
        } else if (in.nullable().containsAll(refs) && nullOnNull(e)) {
          nullable.add(i);
        }
      }
      return Dist.extended(kept, nullable);
    }
    Set<Integer> keys = new LinkedHashSet<>();
    Map<Integer, String> columns = new LinkedHashMap<>();
    List<RexNode> exprs = p.getProjects();
    for (int i = 0; i < exprs.size(); i++) {
      if (exprs.get(i) instanceof RexInputRef ref) {
        if (in.keys().contains(ref.getIndex())) {
          keys.add(i);
        }
        String c = in.columns().get(ref.getIndex());
        if (c != null) {
          columns.put(i, c);
        }
      }
    }
    return in.kind() == Kind.SPLIT ? Dist.split(keys) : new Dist(Kind.PENDING, Set.of(), in.table(), columns);
  }

  /**
   * Every window function of {@code p} partitions by a key of split rows {@code in}: each partition
   * is whole on one fragment, which computes the function as over all the rows.
   */
  private static boolean partitionedByKey(Project p, Dist in) {
    if (in.kind() != Kind.SPLIT) {
      return false;
    }
    List<RexOver> overs = new ArrayList<>();
    for (RexNode e : p.getProjects()) {
      e.accept(new org.apache.calcite.rex.RexVisitorImpl<Void>(true) {
        @Override
        public Void visitOver(RexOver over) {
          overs.add(over);
          return super.visitOver(over);
        }
      });
    }
    return overs.stream().allMatch(o -> o.getWindow().partitionKeys.stream().anyMatch(k -> k instanceof RexInputRef r
        && in.keys().contains(r.getIndex())));
  }

  private Dist aggregate(Aggregate a, Dist in) {
    in = pendingIsSplit(in, a);
    if (in.kind() == Kind.WHOLE) {
      return in;
    }
    if (in.kind() == Kind.EXTENDED) {
      if (!in.keys().containsAll(a.getGroupSet().asList()) || a.getGroupType() != Aggregate.Group.SIMPLE) {
        throw new Decline("a GROUP BY on the null-supplying side of an outer join that keeps every row of a side "
            + "each fragment reads whole");
      }
      for (AggregateCall c : a.getAggCallList()) {
        SqlKind k = c.getAggregation().getKind();
        if (c.isDistinct() || c.filterArg >= 0 || c.getArgList().isEmpty() || !in.nullable().containsAll(c.getArgList())
            || !(k == SqlKind.COUNT || k == SqlKind.SUM || k == SqlKind.MIN || k == SqlKind.MAX || k == SqlKind.AVG)) {
          throw new Decline("an aggregate over an outer join that keeps every row of a side each fragment reads "
              + "whole counts the kept side (COUNT(*), DISTINCT, FILTER, or not the null-supplying side's values)");
        }
      }
      regrouped = true;
      return null; // partial aggregates per fragment, their groups added up at the end
    }
    if (a.getInput() instanceof Project p && RexOver.containsOver(p.getProjects(), null)) {
      // Calcite's RelToSqlConverter writes such a window function into the GROUP BY, which DuckDB refuses
      throw new Decline("an aggregate directly over window functions of split rows");
    }
    if (a.getGroupType() != Aggregate.Group.SIMPLE) {
      return null; // GROUPING SETS, ROLLUP, CUBE: a set without a key spans the fragments; partial and final ones
    }
    List<Integer> groups = a.getGroupSet().asList();
    Set<Integer> keys = new LinkedHashSet<>();
    for (int i = 0; i < groups.size(); i++) {
      if (in.keys().contains(groups.get(i))) {
        keys.add(i);
      }
    }
    if (keys.isEmpty()) {
      return null; // partial and final aggregates: the exchange
    }
    completeGroups = true;
    return Dist.split(keys);
  }

  private Dist join(Join j, Dist left, Dist right) {
    JoinInfo info = j.analyzeCondition();
    int nLeft = j.getLeft().getRowType().getFieldCount();
    if (left.kind() == Kind.EXTENDED || right.kind() == Kind.EXTENDED) {
      throw new Decline("the rows of an outer join that keeps every row of a side each fragment reads whole, "
          + "joined again");
    }
    if (left.kind() == Kind.PENDING && right.kind() == Kind.WHOLE
        && (j.getJoinType() == JoinRelType.INNER || j.getJoinType() == JoinRelType.LEFT)) {
      return left; // still to be routed by its own column
    }
    if (right.kind() == Kind.PENDING && left.kind() == Kind.WHOLE && j.getJoinType() == JoinRelType.INNER) {
      Map<Integer, String> columns = new LinkedHashMap<>();
      right.columns().forEach((i, c) -> columns.put(i + nLeft, c));
      return new Dist(Kind.PENDING, Set.of(), right.table(), columns);
    }
    if (left.kind() == Kind.PENDING && right.kind() == Kind.PENDING) {
      return bucketed(j, left, right, info, nLeft);
    }
    if (left.kind() == Kind.PENDING || right.kind() == Kind.PENDING) {
      if (left.kind() == Kind.PENDING && right.kind() == Kind.SPLIT) {
        left = shuffle(left, right, info.leftKeys, info.rightKeys);
      } else if (right.kind() == Kind.PENDING && left.kind() == Kind.SPLIT) {
        right = shuffle(right, left, info.rightKeys, info.leftKeys);
      } else {
        throw new Decline("table " + (left.kind() == Kind.PENDING ? left : right).table() + " is joined to no "
            + "rows split by a shard key");
      }
    }
    Set<Integer> rightKeys = new LinkedHashSet<>();
    right.keys().forEach(k -> rightKeys.add(k + nLeft));
    boolean leftSplit = left.kind() == Kind.SPLIT;
    boolean rightSplit = right.kind() == Kind.SPLIT;
    if (!leftSplit && !rightSplit) {
      return Dist.WHOLE;
    }
    if (leftSplit && rightSplit) {
      boolean colocated = false;
      for (int i = 0; i < info.leftKeys.size(); i++) {
        colocated |= left.keys().contains(info.leftKeys.get(i)) && right.keys().contains(info.rightKeys.get(i));
      }
      if (!colocated) {
        throw new Decline("a join of two split inputs that does not equate their shard keys");
      }
      return switch (j.getJoinType()) {
        case INNER -> Dist.split(equated(union(left.keys(), rightKeys), info, nLeft));
        case LEFT, SEMI, ANTI -> Dist.split(left.keys());
        case RIGHT -> Dist.split(rightKeys);
        default -> Dist.split(Set.of());
      };
    }
    int n = j.getRowType().getFieldCount();
    if (leftSplit) {
      return switch (j.getJoinType()) {
        case INNER -> Dist.split(equated(left.keys(), info, nLeft));
        case LEFT, SEMI, ANTI -> Dist.split(left.keys());
        case RIGHT -> Dist.extended(range(nLeft, n), range(0, nLeft));
        default -> throw new Decline(PRESERVES_WHOLE);
      };
    }
    return switch (j.getJoinType()) {
      case INNER -> Dist.split(equated(rightKeys, info, nLeft));
      case RIGHT -> Dist.split(rightKeys);
      case LEFT -> Dist.extended(range(0, nLeft), range(nLeft, n));
      case SEMI, ANTI -> throw new Decline("a semi or anti join of rows every fragment reads whole to split rows");
      default -> throw new Decline(PRESERVES_WHOLE);
    };
  }

  private static Set<Integer> range(int from, int to) {
    Set<Integer> out = new LinkedHashSet<>();
    for (int i = from; i < to; i++) {
      out.add(i);
    }
    return out;
  }

  /** NULL when any column it reads is: a column, or arithmetic and casts of such (and constants). */
  private static boolean nullOnNull(RexNode e) {
    if (e instanceof RexInputRef || e instanceof RexLiteral) {
      return true;
    }
    if (e instanceof RexCall call && (call.getKind() == SqlKind.PLUS || call.getKind() == SqlKind.MINUS
        || call.getKind() == SqlKind.TIMES || call.getKind() == SqlKind.DIVIDE || call.getKind() == SqlKind.CAST
        || call.getKind() == SqlKind.MINUS_PREFIX)) {
      return call.getOperands().stream().allMatch(CalcitePlanner::nullOnNull)
          && !org.apache.calcite.plan.RelOptUtil.InputFinder.bits(call).isEmpty();
    }
    return false;
  }

  /**
   * The keys of an inner join's rows: {@code keys} and every column its condition equates with one
   * of them (equal values have equal shards).
   */
  private static Set<Integer> equated(Set<Integer> keys, JoinInfo info, int nLeft) {
    Set<Integer> out = new LinkedHashSet<>(keys);
    for (int i = 0; i < info.leftKeys.size(); i++) {
      int l = info.leftKeys.get(i);
      int r = info.rightKeys.get(i) + nLeft;
      if (keys.contains(l) || keys.contains(r)) {
        out.add(l);
        out.add(r);
      }
    }
    return out;
  }

  private static Set<Integer> union(Set<Integer> a, Set<Integer> b) {
    Set<Integer> out = new LinkedHashSet<>(a);
    out.addAll(b);
    return out;
  }

  /**
   * Two shuffle candidates joined on columns of theirs (a hash-shuffled join, {@link #repartition}):
   * both are routed by hash of those columns into the same buckets, and split on them.
   */
  private Dist bucketed(Join j, Dist left, Dist right, JoinInfo info, int nLeft) {
    if (!repartition) {
      throw new Decline("tables " + left.table() + " and " + right.table() + " are joined to no rows split by a "
          + "shard key");
    }
    for (int i = 0; i < info.leftKeys.size(); i++) {
      String a = left.columns().get(info.leftKeys.get(i));
      String b = right.columns().get(info.rightKeys.get(i));
      if (a == null || b == null) {
        continue;
      }
      assign(left.table(), a);
      assign(right.table(), b);
      Set<Integer> leftKeys = new LinkedHashSet<>();
      left.columns().forEach((index, c) -> {
        if (c.equals(a)) {
          leftKeys.add(index);
        }
      });
      Set<Integer> rightKeys = new LinkedHashSet<>();
      right.columns().forEach((index, c) -> {
        if (c.equals(b)) {
          rightKeys.add(index + nLeft);
        }
      });
      return switch (j.getJoinType()) {
        case INNER -> Dist.split(equated(union(leftKeys, rightKeys), info, nLeft));
        case LEFT, SEMI, ANTI -> Dist.split(leftKeys);
        case RIGHT -> Dist.split(rightKeys);
        default -> Dist.split(Set.of());
      };
    }
    throw new Decline("tables " + left.table() + " and " + right.table() + " are not joined on columns of theirs");
  }

  private void assign(String table, String column) {
    String earlier = shuffled.putIfAbsent(table, column);
    if (earlier != null && !earlier.equals(column)) {
      throw new Decline("table " + table + " would be shuffled on two columns");
    }
  }

  /** A shuffle candidate joined to split rows on a key: it is routed by that column and split on it. */
  private Dist shuffle(Dist pending, Dist split, List<Integer> pendingKeys, List<Integer> splitKeys) {
    for (int i = 0; i < pendingKeys.size(); i++) {
      String column = pending.columns().get(pendingKeys.get(i));
      if (column != null && split.keys().contains(splitKeys.get(i))) {
        assign(pending.table(), column);
        Set<Integer> keys = new LinkedHashSet<>();
        pending.columns().forEach((index, c) -> {
          if (c.equals(column)) {
            keys.add(index);
          }
        });
        return Dist.split(keys);
      }
    }
    throw new Decline("table " + pending.table() + " is not joined on a shard key");
  }

  private Dist union(Union u, List<Dist> in) {
    if (in.stream().allMatch(d -> d.kind() == Kind.WHOLE)) {
      return Dist.WHOLE;
    }
    if (!u.all || in.stream().anyMatch(d -> d.kind() != Kind.SPLIT)) {
      throw new Decline("a set operation of split and whole rows, or a UNION DISTINCT of split rows");
    }
    Set<Integer> keys = new LinkedHashSet<>(in.get(0).keys());
    in.forEach(d -> keys.retainAll(d.keys()));
    return Dist.split(keys);
  }

  /**
   * INTERSECT and EXCEPT: whole over whole inputs; split when the split inputs share key columns
   * (equal rows have equal keys, so all copies of a row of any input are on one fragment) and a
   * whole input is only ever subtracted or intersected (EXCEPT's first input must be split).
   */
  private static Dist setOperation(boolean minus, List<Dist> in) {
    if (in.stream().allMatch(d -> d.kind() == Kind.WHOLE)) {
      return Dist.WHOLE;
    }
    Set<Integer> keys = null;
    for (Dist d : in) {
      if (d.kind() == Kind.SPLIT) {
        keys = keys == null ? new LinkedHashSet<>(d.keys()) : keys;
        keys.retainAll(d.keys());
      } else if (d.kind() != Kind.WHOLE) {
        keys = Set.of();
        break;
      }
    }
    if (keys == null || keys.isEmpty() || minus && in.get(0).kind() != Kind.SPLIT) {
      throw new Decline("INTERSECT or EXCEPT of split rows whose equal rows may be on different fragments (no "
          + "shard key column in common), or EXCEPT of whole rows minus split ones");
    }
    return Dist.split(keys);
  }

  /** ORDER BY with LIMIT per fragment: each keeps its first OFFSET + LIMIT rows. */
  private static RelNode topN(Sort sort) {
    RexBuilder rex = sort.getCluster().getRexBuilder();
    long fetch = RexLiteral.intValue(sort.fetch) + (sort.offset == null ? 0 : RexLiteral.intValue(sort.offset));
    return LogicalSort.create(sort.getInput(), sort.getCollation(), null, rex.makeExactLiteral(
        java.math.BigDecimal.valueOf(fetch)));
  }

  /** The scan of the fragments' rows on the coordinator. */
  private static RelNode partials(RelNode fragment) {
    return LogicalTableScan.create(fragment.getCluster(), RelOptTableImpl.create(null, fragment.getRowType(),
        List.of(Plan.PARTIALS.substring(1, Plan.PARTIALS.length() - 1)), (org.apache.calcite.linq4j.tree.Expression)
            null), List.of());
  }

  /** A split aggregate: the partial aggregate each fragment runs, the final one over their rows. */
  private record Cut(RelNode fragment, RelNode finalRel) {}

  /** The partial aggregate, and the final one with the original's row type. */
  private static Cut splitAggregate(Aggregate agg) {
    RelBuilder b = RelFactories.LOGICAL_BUILDER.create(agg.getCluster(), null);
    RexBuilder rex = agg.getCluster().getRexBuilder();
    List<AggregateCall> calls = agg.getAggCallList();
    int groups = agg.getGroupCount();
    if (calls.stream().anyMatch(AggregateCall::isDistinct)) {
      if (agg.getGroupType() != Aggregate.Group.SIMPLE) {
        throw new Decline("DISTINCT aggregates with GROUPING SETS, ROLLUP or CUBE over split rows");
      }
      return splitDistinct(agg, b);
    }
    b.push(agg.getInput());
    List<RelBuilder.AggCall> partial = new ArrayList<>();
    for (AggregateCall c : calls) {
      List<RexNode> args = new ArrayList<>();
      c.getArgList().forEach(a -> args.add(b.field(a)));
      RexNode filter = c.filterArg < 0 ? null : b.field(c.filterArg);
      switch (c.getAggregation().getKind()) {
        case SUM, SUM0, MIN, MAX, COUNT -> partial.add(b.aggregateCall(c.getAggregation(), args).filter(filter));
        case AVG -> {
          partial.add(b.aggregateCall(SqlStdOperatorTable.SUM, args).filter(filter));
          partial.add(b.aggregateCall(SqlStdOperatorTable.COUNT, args).filter(filter));
        }
        case GROUPING, GROUPING_ID -> { } // of the final grouping sets only
        default -> throw new Decline("aggregate " + c.getAggregation().getName() + " cannot be split into partial "
            + "and final aggregates");
      }
    }
    for (int i = 0; i < partial.size(); i++) {
      partial.set(i, partial.get(i).as("__quiver_p" + i));
    }
    b.aggregate(b.groupKey(agg.getGroupSet()), partial);
    RelNode fragment = b.build();
    RelNode partials = partials(fragment);
    b.push(partials);
    List<RelBuilder.AggCall> finals = new ArrayList<>();
    int p = groups;
    List<Integer> groupColumns = agg.getGroupSet().asList();
    for (AggregateCall c : calls) {
      switch (c.getAggregation().getKind()) {
        case GROUPING, GROUPING_ID -> finals.add(b.aggregateCall(c.getAggregation(), c.getArgList().stream()
            .map(a -> (RexNode) b.field(groupColumns.indexOf(a))).toList()));
        case MIN, MAX -> finals.add(b.aggregateCall(c.getAggregation(), b.field(p++)));
        case AVG -> {
          finals.add(b.sum(b.field(p++)));
          finals.add(b.sum(b.field(p++)));
        }
        default -> finals.add(b.sum(b.field(p++)));
      }
    }
    // GROUPING SETS, ROLLUP, CUBE: the fragments group by every column of any set, the final
    // aggregation by the sets themselves over those partial groups
    List<ImmutableBitSet> sets = agg.getGroupSets().stream().map(set -> ImmutableBitSet.of(set.asList().stream()
        .map(groupColumns::indexOf).toList())).toList();
    b.aggregate(agg.getGroupType() == Aggregate.Group.SIMPLE ? b.groupKey(ImmutableBitSet.range(groups))
        : b.groupKey(ImmutableBitSet.range(groups), sets), finals);
    RelNode finalAgg = b.build();
    List<RexNode> exprs = new ArrayList<>();
    List<RelDataType> types = new ArrayList<>();
    agg.getRowType().getFieldList().forEach(f -> types.add(f.getType()));
    for (int i = 0; i < groups; i++) {
      exprs.add(matching(rex, types.get(i), rex.makeInputRef(finalAgg, i)));
    }
    int f = groups;
    for (int i = 0; i < calls.size(); i++) {
      RelDataType type = types.get(groups + i);
      if (calls.get(i).getAggregation().getKind() == SqlKind.AVG) {
        RelDataType dbl = rex.getTypeFactory().createTypeWithNullability(
            rex.getTypeFactory().createSqlType(SqlTypeName.DOUBLE), true);
        // DuckDB's AVG is a DOUBLE: divide as doubles (the call's Calcite type is only a label here)
        exprs.add(rex.makeCall(type, SqlStdOperatorTable.DIVIDE, List.of(
            rex.makeCast(dbl, rex.makeInputRef(finalAgg, f)), rex.makeCast(dbl, rex.makeInputRef(finalAgg, f + 1)))));
        f += 2;
      } else {
        exprs.add(matching(rex, type, rex.makeInputRef(finalAgg, f++)));
      }
    }
    RelNode finalRel = LogicalProject.create(finalAgg, List.of(), exprs, agg.getRowType().getFieldNames(), Set.of());
    return new Cut(fragment, finalRel);
  }

  /**
   * DISTINCT aggregates, all of one column: the fragments deduplicate (group by the groups and the
   * column), the coordinator deduplicates again and aggregates.
   */
  private static Cut splitDistinct(Aggregate agg, RelBuilder b) {
    List<AggregateCall> calls = agg.getAggCallList();
    Set<List<Integer>> args = new HashSet<>();
    for (AggregateCall c : calls) {
      if (!c.isDistinct() && c.getAggregation().getKind() != SqlKind.MIN && c.getAggregation().getKind() != SqlKind.MAX
          || c.filterArg >= 0 || c.getArgList().size() != 1) {
        throw new Decline("DISTINCT aggregates mixed with others, over several columns or with FILTER");
      }
      args.add(c.getArgList());
    }
    if (args.size() != 1) {
      throw new Decline("DISTINCT aggregates of more than one column");
    }
    int column = calls.get(0).getArgList().get(0);
    ImmutableBitSet keys = agg.getGroupSet().union(ImmutableBitSet.of(column));
    b.push(agg.getInput()).aggregate(b.groupKey(keys));
    RelNode fragment = b.build();
    RelNode partials = partials(fragment);
    List<Integer> positions = keys.asList();
    ImmutableBitSet finalGroups = ImmutableBitSet.of(agg.getGroupSet().asList().stream().map(positions::indexOf)
        .toList());
    RelNode finalRel = agg.copy(agg.getTraitSet(), partials, finalGroups, null, calls.stream().map(c -> c.transform(
        org.apache.calcite.util.mapping.Mappings.target(Map.of(column, positions.indexOf(column)),
            agg.getInput().getRowType().getFieldCount(), positions.size()))).toList());
    return new Cut(fragment, finalRel);
  }

  /** {@code e} with exactly {@code type} (a cast only where the type itself differs). */
  private static RexNode matching(RexBuilder rex, RelDataType type, RexNode e) {
    if (e.getType().equals(type)) {
      return e;
    }
    if (e.getType().getSqlTypeName() == type.getSqlTypeName() && e.getType().getPrecision() == type.getPrecision()
        && e.getType().getScale() == type.getScale()) {
      return rex.makeAbstractCast(type, e, false); // nullability only
    }
    return rex.makeCast(type, e, true, false);
  }

  /**
   * Shard pruning: literal conditions on the anchor's partition column, when the anchor is read
   * once and every output row comes from one of its rows (not under the null-supplying side of an
   * outer join, nor the right side of a semi or anti join).
   */
  private Optional<KeyRestriction> keyRestriction(RelNode root, List<TableScan> scans) {
    List<TableScan> anchors = new ArrayList<>();
    for (TableScan s : scans) {
      if (info(s).name().equals(anchor.name())) {
        anchors.add(s);
      }
    }
    if (anchors.size() != 1) {
      return Optional.empty();
    }
    return restriction(root, anchors.get(0));
  }

  private Optional<KeyRestriction> restriction(RelNode n, TableScan scan) {
    if (n instanceof Filter f) {
      int key = keyColumn(f.getInput(), scan);
      if (key >= 0) {
        Optional<KeyRestriction> r = fromCondition(f, key);
        if (r.isPresent()) {
          return r;
        }
      }
    }
    if (n instanceof Join j) {
      boolean inLeft = contains(j.getLeft(), scan);
      boolean allowed = switch (j.getJoinType()) {
        case INNER -> true;
        case LEFT, SEMI, ANTI -> inLeft;
        case RIGHT -> !inLeft;
        default -> false;
      };
      return allowed ? restriction(inLeft ? j.getLeft() : j.getRight(), scan) : Optional.empty();
    }
    for (RelNode i : n.getInputs()) {
      if (contains(i, scan)) {
        return n.getInputs().size() == 1 ? restriction(i, scan) : Optional.empty();
      }
    }
    return Optional.empty();
  }

  private static boolean contains(RelNode n, RelNode target) {
    if (n == target) {
      return true;
    }
    for (RelNode i : n.getInputs()) {
      if (contains(i, target)) {
        return true;
      }
    }
    return false;
  }

  /** The output column of {@code n} holding the anchor's key, through projections down to the scan; -1 if none. */
  private int keyColumn(RelNode n, TableScan scan) {
    if (n == scan) {
      return columnIndex(scan, anchor.partitionColumn());
    }
    if (n instanceof Project p) {
      int below = keyColumn(p.getInput(), scan);
      for (int i = 0; i < p.getProjects().size(); i++) {
        if (p.getProjects().get(i) instanceof RexInputRef r && r.getIndex() == below) {
          return i;
        }
      }
    }
    if (n instanceof Filter f) {
      return keyColumn(f.getInput(), scan);
    }
    return -1;
  }

  private static Optional<KeyRestriction> fromCondition(Filter f, int key) {
    RexNode cond = RexUtil.expandSearch(f.getCluster().getRexBuilder(), null, f.getCondition());
    List<String> equals = null;
    String lower = null;
    String upper = null;
    for (RexNode c : org.apache.calcite.plan.RelOptUtil.conjunctions(cond)) {
      List<String> eq = equalities(c, key);
      if (eq != null) {
        equals = eq;
        continue;
      }
      if (c instanceof RexCall call && call.getOperands().size() == 2) {
        RexNode a = call.getOperands().get(0);
        RexNode b = call.getOperands().get(1);
        boolean keyLeft = isRef(a, key) && b instanceof RexLiteral;
        boolean keyRight = isRef(b, key) && a instanceof RexLiteral;
        if (!keyLeft && !keyRight) {
          continue;
        }
        String lit = literal((RexLiteral) (keyLeft ? b : a));
        if (lit == null) {
          continue;
        }
        SqlKind kind = keyLeft ? call.getKind() : call.getKind().reverse();
        switch (kind) {
          case GREATER_THAN, GREATER_THAN_OR_EQUAL -> lower = lit;
          case LESS_THAN, LESS_THAN_OR_EQUAL -> upper = lit;
          default -> { }
        }
      }
    }
    if (equals == null && lower == null && upper == null) {
      return Optional.empty();
    }
    return Optional.of(new KeyRestriction(equals, equals != null ? null : lower, equals != null ? null : upper));
  }

  /** key = literal, or an OR of such: the literals; null for anything else. */
  private static List<String> equalities(RexNode c, int key) {
    List<String> out = new ArrayList<>();
    for (RexNode d : org.apache.calcite.plan.RelOptUtil.disjunctions(c)) {
      if (!(d instanceof RexCall call) || call.getKind() != SqlKind.EQUALS) {
        return null;
      }
      RexNode a = call.getOperands().get(0);
      RexNode b = call.getOperands().get(1);
      RexNode lit = isRef(a, key) ? b : isRef(b, key) ? a : null;
      if (!(lit instanceof RexLiteral l) || literal(l) == null) {
        return null;
      }
      out.add(literal(l));
    }
    return out;
  }

  private static boolean isRef(RexNode e, int index) {
    return e instanceof RexInputRef r && r.getIndex() == index;
  }

  /** A literal as DuckDB SQL, for numbers, strings and dates; null otherwise. */
  private static String literal(RexLiteral l) {
    if (l.isNull()) {
      return null;
    }
    return switch (l.getTypeName()) {
      case DECIMAL, INTEGER, BIGINT, SMALLINT, TINYINT, DOUBLE, FLOAT, REAL -> {
        java.math.BigDecimal v = l.getValueAs(java.math.BigDecimal.class);
        yield v == null ? null : v.toPlainString();
      }
      case CHAR, VARCHAR -> "'" + l.getValueAs(String.class).replace("'", "''") + "'";
      case DATE -> "DATE '" + l.getValueAs(org.apache.calcite.util.DateString.class) + "'";
      default -> null;
    };
  }

}
