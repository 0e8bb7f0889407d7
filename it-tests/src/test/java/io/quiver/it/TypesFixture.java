package io.quiver.it;

/** One table holding every DuckDB type a user meets, shared by the JDBC, ADBC and Flight suites. */
final class TypesFixture {
  private TypesFixture() {}

  static final String CREATE_ENUM = "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')";

  static final String CREATE = String.join("\n",
      "CREATE TABLE all_types AS SELECT",
      "  1::TINYINT AS t_tinyint, 2::SMALLINT AS t_smallint, 3::INTEGER AS t_integer, 4::BIGINT AS t_bigint,",
      "  170141183460469231731687303715884105727::HUGEINT AS t_hugeint, 12345.67::DECIMAL(10,2) AS t_decimal,",
      "  1.5::DOUBLE AS t_double, 'héllo'::VARCHAR AS t_varchar, '\\xDE\\xAD'::BLOB AS t_blob, true AS t_boolean,",
      "  DATE '2024-02-29' AS t_date, TIME '13:14:15.123456' AS t_time,",
      "  TIMESTAMP '2024-02-29 13:14:15.123456' AS t_timestamp,",
      "  TIMESTAMPTZ '2024-02-29 13:14:15.123456+00' AS t_timestamptz,",
      "  INTERVAL '1 month 2 days 3 seconds' AS t_interval,",
      "  '123e4567-e89b-12d3-a456-426614174000'::UUID AS t_uuid, [1, 2, 3] AS t_list,",
      "  {'a': 1, 'b': 'x'} AS t_struct, MAP {'k': 7} AS t_map, 'happy'::mood AS t_enum",
      "UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,",
      "  NULL, NULL, NULL, NULL, NULL, NULL");
}
