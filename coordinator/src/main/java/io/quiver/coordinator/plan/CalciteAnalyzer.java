package io.quiver.coordinator.plan;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.calcite.avatica.util.Casing;
import org.apache.calcite.plan.hep.HepMatchOrder;
import org.apache.calcite.plan.hep.HepPlanner;
import org.apache.calcite.plan.hep.HepProgram;
import org.apache.calcite.plan.hep.HepProgramBuilder;
import org.apache.calcite.rel.RelNode;
import org.apache.calcite.rel.RelRoot;
import org.apache.calcite.rel.core.RelFactories;
import org.apache.calcite.rel.rel2sql.RelToSqlConverter;
import org.apache.calcite.rel.rules.CoreRules;
import org.apache.calcite.rel.type.RelDataType;
import org.apache.calcite.rel.type.RelDataTypeFactory;
import org.apache.calcite.schema.SchemaPlus;
import org.apache.calcite.schema.Statistic;
import org.apache.calcite.schema.Statistics;
import org.apache.calcite.schema.impl.AbstractSchema;
import org.apache.calcite.schema.impl.AbstractTable;
import org.apache.calcite.sql.SqlDialect;
import org.apache.calcite.sql.SqlNode;
import org.apache.calcite.sql.dialect.DuckDBSqlDialect;
import org.apache.calcite.sql.parser.SqlParser;
import org.apache.calcite.sql.type.SqlTypeName;
import org.apache.calcite.sql.validate.SqlConformanceEnum;
import org.apache.calcite.sql2rel.RelDecorrelator;
import org.apache.calcite.sql2rel.RelFieldTrimmer;
import org.apache.calcite.sql2rel.SqlToRelConverter;
import org.apache.calcite.tools.FrameworkConfig;
import org.apache.calcite.tools.Frameworks;
import org.apache.calcite.tools.Planner;
import org.apache.calcite.tools.RelBuilder;

/**
 * The coordinator's front end: parses a query with Apache Calcite, validates it against the
 * cluster catalog (the tables it names, with their DuckDB column types and row counts), turns it
 * into relational algebra and optimizes that with heuristic rules only (sub-queries to joins and
 * decorrelation, constant folding, predicate pushdown into joins and below projections and
 * aggregates, unused columns trimmed). No cost-based search: exhaustive join
 * enumeration takes seconds on TPC-H queries, and DuckDB orders the joins of every fragment
 * itself.
 *
 * <p>A query Calcite cannot parse or validate (DuckDB-only syntax or functions, a table that is
 * not a cluster table) is {@link Analysis#failure() declined} with Calcite's reason; the caller
 * then plans it another way.
 */
public final class CalciteAnalyzer {
  /** DuckDB's SQL as Calcite writes it. */
  public static final SqlDialect DIALECT = DuckDBSqlDialect.DEFAULT;

  /** DuckDB sorts NULLs last in both directions; Calcite's default puts them first in DESC. */
  private static final java.util.Properties NULLS_LAST = new java.util.Properties();

  static {
    NULLS_LAST.setProperty(org.apache.calcite.config.CalciteConnectionProperty.DEFAULT_NULL_COLLATION.camelName(),
        org.apache.calcite.config.NullCollation.LAST.name());
  }

  /**
   * Constant folding (and IN lists rebuilt from ORs) in filters without sub-queries: in one with a
   * sub-query it would rewrite the sub-query, and the as-written plan would no longer match the
   * optimized one above the exchange (TPC-H Q21 was then written from Calcite's decorrelated
   * joins, twice as slow on DuckDB).
   */
  private static final org.apache.calcite.plan.RelOptRule REDUCE_FILTERS_WITHOUT_SUB_QUERIES =
      ((org.apache.calcite.rel.rules.ReduceExpressionsRule.FilterReduceExpressionsRule.FilterReduceExpressionsRuleConfig)
          CoreRules.FILTER_REDUCE_EXPRESSIONS.config.withOperandSupplier(b -> b.operand(
              org.apache.calcite.rel.logical.LogicalFilter.class).predicate(f ->
                  !org.apache.calcite.rex.RexUtil.SubQueryFinder.containsSubQuery(f)).anyInputs())).toRule();

  private static final Pattern DECIMAL = Pattern.compile("DECIMAL\\((\\d+),\\s*(\\d+)\\)");

  /**
   * The outcome: the optimized plan, or the reason there is none; {@code plain} is the plan as
   * written (sub-queries kept, only projections merged), whose SQL DuckDB optimizes better than
   * Calcite's decorrelated joins (see {@link CalcitePlanner}).
   */
  public record Analysis(Optional<RelNode> rel, String failure, RelNode plain) {}

  private CalciteAnalyzer() {}

  /**
   * The cluster tables {@code sql} may name, by lower-case name: every word of it that is a
   * cluster table with known column types (Calcite lists a schema's tables before it resolves a
   * name, so they are looked up first).
   */
  public static Map<String, FragmentPlanner.TableInfo> tablesNamed(String sql, FragmentPlanner.Catalog catalog) {
    Map<String, FragmentPlanner.TableInfo> out = new java.util.TreeMap<>();
    Set<String> tried = new java.util.HashSet<>();
    for (io.quiver.coordinator.write.SqlTokens.Token t : io.quiver.coordinator.write.SqlTokens.tokenize(sql)) {
      String name = switch (t.kind()) {
        case WORD -> t.text().toLowerCase(Locale.ROOT);
        case QUOTED_IDENTIFIER -> t.text().substring(1, t.text().length() - 1).replace("\"\"", "\"");
        default -> null;
      };
      if (name != null && tried.add(name)) {
        catalog.table(name).filter(info -> !info.columnTypes().isEmpty()).ifPresent(info -> out.put(name,
            new FragmentPlanner.TableInfo(name, info.columns(), info.partitionColumn(), info.group(), info.rows(),
                info.columnTypes())));
      }
    }
    return out;
  }

  /** Parses, validates and optimizes {@code sql} against {@code tables} (see {@link #tablesNamed}). */
  public static Analysis analyze(String sql, Map<String, FragmentPlanner.TableInfo> tables) {
    SchemaPlus schema = org.apache.calcite.jdbc.CalciteSchema.createRootSchema(false, false, "",
        new CatalogSchema(tables)).plus();
    FrameworkConfig config = Frameworks.newConfigBuilder()
        .parserConfig(SqlParser.config().withCaseSensitive(false).withUnquotedCasing(Casing.TO_LOWER)
            .withQuotedCasing(Casing.UNCHANGED).withConformance(SqlConformanceEnum.LENIENT))
        .sqlValidatorConfig(org.apache.calcite.sql.validate.SqlValidator.Config.DEFAULT
            .withConformance(SqlConformanceEnum.LENIENT).withIdentifierExpansion(true)
            .withDefaultNullCollation(org.apache.calcite.config.NullCollation.LAST))
        .sqlToRelConverterConfig(SqlToRelConverter.config().withExpand(false).withTrimUnusedFields(true))
        .typeSystem(DuckDBSqlDialect.TYPE_SYSTEM)
        .context(org.apache.calcite.plan.Contexts.of(new org.apache.calcite.config.CalciteConnectionConfigImpl(
            NULLS_LAST)))
        .defaultSchema(schema)
        .build();
    Planner planner = Frameworks.getPlanner(config);
    RelNode rel;
    try {
      SqlNode parsed = planner.parse(calciteText(sql));
      SqlNode validated = planner.validate(parsed);
      RelRoot relRoot = planner.rel(validated);
      rel = relRoot.project(); // the top-level ORDER BY is a Sort in the tree, under this projection
    } catch (Exception | AssertionError e) {
      return new Analysis(Optional.empty(), "Calcite cannot analyze it: " + firstLine(e), null);
    }
    try {
      // as written, with constants folded and IN lists kept (SqlToRelConverter expands them into ORs, which
      // DuckDB does not push into its scans as it does IN)
      RelNode plain = run(new HepProgramBuilder().addRuleCollection(List.of(CoreRules.PROJECT_MERGE,
          CoreRules.PROJECT_REMOVE, REDUCE_FILTERS_WITHOUT_SUB_QUERIES)).build(), rel);
      return new Analysis(Optional.of(optimize(rel)), null, plain);
    } catch (RuntimeException | AssertionError e) {
      return new Analysis(Optional.empty(), "Calcite cannot optimize it: " + firstLine(e), null);
    }
  }

  /** The logical rules, in phases: sub-queries out, decorrelate, then push down and simplify. */
  static RelNode optimize(RelNode rel) {
    RelBuilder builder = RelFactories.LOGICAL_BUILDER.create(rel.getCluster(), null);
    HepProgram subQueries = new HepProgramBuilder()
        .addRuleInstance(CoreRules.FILTER_SUB_QUERY_TO_CORRELATE)
        .addRuleInstance(CoreRules.PROJECT_SUB_QUERY_TO_CORRELATE)
        .addRuleInstance(CoreRules.JOIN_SUB_QUERY_TO_CORRELATE)
        .build();
    rel = run(subQueries, rel);
    rel = RelDecorrelator.decorrelateQuery(rel, builder);
    // UNION (DISTINCT) as an aggregate over UNION ALL: the convention splits that
    rel = run(new HepProgramBuilder().addRuleInstance(CoreRules.UNION_TO_DISTINCT).build(), rel);
    HepProgram pushDown = new HepProgramBuilder()
        .addMatchOrder(HepMatchOrder.BOTTOM_UP)
        .addRuleCollection(List.of(
            CoreRules.FILTER_REDUCE_EXPRESSIONS, CoreRules.PROJECT_REDUCE_EXPRESSIONS,
            CoreRules.JOIN_REDUCE_EXPRESSIONS,
            CoreRules.FILTER_INTO_JOIN, CoreRules.JOIN_CONDITION_PUSH, CoreRules.JOIN_PUSH_TRANSITIVE_PREDICATES,
            CoreRules.FILTER_PROJECT_TRANSPOSE, CoreRules.FILTER_AGGREGATE_TRANSPOSE, CoreRules.FILTER_MERGE,
            CoreRules.PROJECT_MERGE, CoreRules.PROJECT_REMOVE, CoreRules.AGGREGATE_PROJECT_MERGE,
            CoreRules.PROJECT_FILTER_VALUES_MERGE))
        .build();
    rel = run(pushDown, rel);
    // heuristic join order from the catalog's row counts: each inner-join tree is flattened and rebuilt
    // greedily, smallest results first (LoptOptimizeJoinRule; outer joins stay where they are)
    rel = run(new HepProgramBuilder().addMatchOrder(HepMatchOrder.BOTTOM_UP)
        .addRuleInstance(CoreRules.JOIN_TO_MULTI_JOIN).addRuleInstance(CoreRules.MULTI_JOIN_OPTIMIZE).build(), rel);
    rel = new RelFieldTrimmer(null, builder).trim(rel);
    return run(new HepProgramBuilder().addRuleCollection(List.of(CoreRules.PROJECT_MERGE, CoreRules.PROJECT_REMOVE))
        .build(), rel);
  }

  private static RelNode run(HepProgram program, RelNode rel) {
    HepPlanner hep = new HepPlanner(program);
    hep.setRoot(rel);
    return hep.findBestExp();
  }

  /** DuckDB SQL for a logical plan. */
  public static String toSql(RelNode rel) {
    return new RelToSqlConverter(DIALECT).visitRoot(rel).asStatement().toSqlString(DIALECT).getSql();
  }

  /**
   * The statement as Calcite's parser takes it: without a trailing {@code ;}, and with the word
   * {@code value} quoted (a reserved word to Calcite, a common column alias to DuckDB users).
   */
  private static String calciteText(String sql) {
    List<io.quiver.coordinator.write.SqlTokens.Token> tokens = io.quiver.coordinator.write.SqlTokens.statement(sql)
        .orElseThrow(() -> new IllegalArgumentException("not one statement"));
    StringBuilder b = new StringBuilder();
    int at = tokens.isEmpty() ? 0 : tokens.get(0).start();
    for (io.quiver.coordinator.write.SqlTokens.Token t : tokens) {
      b.append(sql, at, t.start()).append(t.is("value") ? "\"value\"" : t.text());
      at = t.end();
    }
    return b.toString();
  }

  private static String firstLine(Throwable e) {
    String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }

  /** Calcite's type for a DuckDB column type, or empty for a type it does not model. */
  static Optional<RelDataType> type(RelDataTypeFactory f, String duckdbType) {
    String t = duckdbType.toUpperCase(Locale.ROOT).strip();
    Matcher m = DECIMAL.matcher(t);
    SqlTypeName name;
    if (m.matches()) {
      return Optional.of(nullable(f, f.createSqlType(SqlTypeName.DECIMAL, Integer.parseInt(m.group(1)),
          Integer.parseInt(m.group(2)))));
    }
    switch (t) {
      case "BIGINT", "INT8", "LONG" -> name = SqlTypeName.BIGINT;
      case "INTEGER", "INT", "INT4" -> name = SqlTypeName.INTEGER;
      case "SMALLINT", "INT2" -> name = SqlTypeName.SMALLINT;
      case "TINYINT", "INT1" -> name = SqlTypeName.TINYINT;
      case "DOUBLE", "FLOAT8" -> name = SqlTypeName.DOUBLE;
      case "FLOAT", "REAL", "FLOAT4" -> name = SqlTypeName.REAL;
      case "BOOLEAN", "BOOL" -> name = SqlTypeName.BOOLEAN;
      case "VARCHAR", "TEXT", "STRING" -> {
        return Optional.of(nullable(f, f.createSqlType(SqlTypeName.VARCHAR)));
      }
      case "DATE" -> name = SqlTypeName.DATE;
      case "TIMESTAMP" -> name = SqlTypeName.TIMESTAMP;
      default -> {
        return Optional.empty();
      }
    }
    return Optional.of(nullable(f, f.createSqlType(name)));
  }

  private static RelDataType nullable(RelDataTypeFactory f, RelDataType t) {
    return f.createTypeWithNullability(t, true);
  }

  /** The cluster's tables, as {@link #tablesNamed} found them. */
  private static final class CatalogSchema extends AbstractSchema {
    private final Map<String, org.apache.calcite.schema.Table> tables = new java.util.HashMap<>();

    CatalogSchema(Map<String, FragmentPlanner.TableInfo> infos) {
      infos.forEach((name, info) -> tables.put(name, new CatalogTable(info)));
    }

    @Override
    protected Map<String, org.apache.calcite.schema.Table> getTableMap() {
      return tables;
    }
  }

  /** One cluster table: its columns with Calcite types, its row count as the statistic. */
  static final class CatalogTable extends AbstractTable {
    final FragmentPlanner.TableInfo info;

    CatalogTable(FragmentPlanner.TableInfo info) {
      this.info = info;
    }

    @Override
    public RelDataType getRowType(RelDataTypeFactory f) {
      RelDataTypeFactory.Builder b = f.builder();
      info.columnTypes().forEach((column, type) -> b.add(column, type(f, type).orElseThrow(() ->
          new IllegalArgumentException("column " + info.name() + "." + column + " has type " + type
              + ", which the Calcite planner does not model yet"))));
      return b.build();
    }

    @Override
    public Statistic getStatistic() {
      return Statistics.of(Math.max(1, info.rows()), List.of());
    }
  }
}
