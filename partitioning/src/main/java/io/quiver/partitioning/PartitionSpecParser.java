package io.quiver.partitioning;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Reads the JSON partition config of {@code trex_db_create_table}, {@code trex_db_partition_table}
 * and {@code trex_db_repartition_table} against the table's columns. Every refusal names the field
 * that is wrong, e.g. {@code config.column 'uid' is not a column of table 'events' (columns: id,
 * user_id, ts)}.
 */
public final class PartitionSpecParser {
  public static final int MAX_PARTITIONS = 1024;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Set<String> HASH_FIELDS = Set.of("strategy", "column", "num_partitions", "replication_factor",
      "colocate_with");
  private static final Set<String> RANGE_FIELDS = Set.of("strategy", "column", "ranges", "replication_factor",
      "colocate_with");
  private static final Set<String> REPLICATED_FIELDS = Set.of("strategy");

  private PartitionSpecParser() {}

  /**
   * @param table the table's name, for messages
   * @param columns the table's columns, name → DuckDB type name, in order
   */
  public static PartitionSpec parse(String config, String table, Map<String, String> columns) {
    JsonNode root;
    try {
      root = JSON.readTree(config == null ? "" : config);
    } catch (JsonProcessingException e) {
      throw error("config is not valid JSON: %s", e.getOriginalMessage());
    }
    if (root == null || !root.isObject()) {
      throw error("config must be a JSON object such as {\"strategy\": \"hash\", \"column\": \"id\", "
          + "\"num_partitions\": 4}");
    }
    JsonNode strategy = root.get("strategy");
    if (strategy == null || !strategy.isTextual()) {
      throw error("config.strategy is required: one of 'hash', 'range', 'replicated'");
    }
    switch (strategy.asText().toLowerCase(Locale.ROOT)) {
      case "hash" -> {
        checkFields(root, HASH_FIELDS);
        String column = column(root, table, columns);
        int n = positiveInt(root, "num_partitions", true, 0);
        if (n > MAX_PARTITIONS) {
          throw error("config.num_partitions must be at most %d, got %d", MAX_PARTITIONS, n);
        }
        return new PartitionSpec.Hash(column, n, positiveInt(root, "replication_factor", false, 1), colocate(root));
      }
      case "range" -> {
        checkFields(root, RANGE_FIELDS);
        String column = column(root, table, columns);
        List<String> bounds = ranges(root, columns.get(column));
        return new PartitionSpec.Range(column, bounds, positiveInt(root, "replication_factor", false, 1),
            colocate(root));
      }
      case "replicated" -> {
        checkFields(root, REPLICATED_FIELDS);
        return new PartitionSpec.Replicated();
      }
      default -> throw error("config.strategy '%s' is unknown: use 'hash', 'range' or 'replicated'", strategy.asText());
    }
  }

  private static void checkFields(JsonNode root, Set<String> allowed) {
    for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!allowed.contains(f)) {
        throw error("config has unknown field '%s' for strategy '%s' (allowed: %s)", f, root.get("strategy").asText(),
            String.join(", ", allowed.stream().sorted().toList()));
      }
    }
  }

  private static String column(JsonNode root, String table, Map<String, String> columns) {
    JsonNode c = root.get("column");
    if (c == null || !c.isTextual() || c.asText().isBlank()) {
      throw error("config.column is required for strategy '%s'", root.get("strategy").asText());
    }
    for (String name : columns.keySet()) {
      if (name.equalsIgnoreCase(c.asText())) {
        return name;
      }
    }
    throw error("config.column '%s' is not a column of table '%s' (columns: %s)", c.asText(), table,
        String.join(", ", columns.keySet()));
  }

  private static int positiveInt(JsonNode root, String field, boolean required, int dflt) {
    JsonNode v = root.get(field);
    if (v == null) {
      if (required) {
        throw error("config.%s is required", field);
      }
      return dflt;
    }
    if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < 1) {
      throw error("config.%s must be a positive integer, got %s", field, v);
    }
    return v.asInt();
  }

  private static Optional<String> colocate(JsonNode root) {
    JsonNode v = root.get("colocate_with");
    if (v == null) {
      return Optional.empty();
    }
    if (!v.isTextual() || v.asText().isBlank()) {
      throw error("config.colocate_with must name a distributed table, got %s", v);
    }
    return Optional.of(v.asText());
  }

  private static List<String> ranges(JsonNode root, String columnType) {
    JsonNode r = root.get("ranges");
    if (r == null || !r.isArray() || r.isEmpty()) {
      throw error("config.ranges must be a non-empty array of bounds, e.g. [\"2024-01-01\", \"2024-07-01\"]");
    }
    List<String> bounds = new ArrayList<>();
    for (JsonNode b : r) {
      if (!(b.isTextual() || b.isNumber())) {
        throw error("config.ranges holds %s; bounds are strings or numbers", b);
      }
      bounds.add(b.asText());
    }
    Comparator<String> order = orderOf(columnType);
    for (int i = 1; i < bounds.size(); i++) {
      if (order.compare(bounds.get(i - 1), bounds.get(i)) >= 0) {
        throw error("config.ranges must be strictly increasing: '%s' is not after '%s' (unsorted or overlapping)",
            bounds.get(i), bounds.get(i - 1));
      }
    }
    return bounds;
  }

  /** Compares bounds as values of the column's type: numbers, dates and timestamps by value, text by code point. */
  static Comparator<String> orderOf(String duckType) {
    String t = duckType == null ? "" : duckType.toUpperCase(Locale.ROOT);
    if (t.matches("(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL.*)")) {
      return Comparator.comparing(v -> parse(v, BigDecimal::new, t));
    }
    if (t.equals("DATE")) {
      return Comparator.comparing(v -> parse(v, LocalDate::parse, t));
    }
    if (t.startsWith("TIMESTAMP")) {
      return Comparator.comparing(v -> parse(v.length() == 10 ? v + "T00:00:00" : v.replace(' ', 'T'),
          LocalDateTime::parse, t));
    }
    return Comparator.naturalOrder();
  }

  private static <T> T parse(String v, java.util.function.Function<String, T> f, String type) {
    try {
      return f.apply(v.trim());
    } catch (NumberFormatException | DateTimeParseException e) {
      throw error("config.ranges bound '%s' is not a valid %s value", v, type);
    }
  }

  private static QuiverException error(String format, Object... args) {
    return QuiverException.user(ErrorCode.INVALID_ARGUMENT, format, args);
  }
}
