package io.quiver.shuffle;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.util.List;
import java.util.Map;
import org.apache.arrow.vector.BaseIntVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * Which target each row of a batch goes to. {@link #targets} fills one entry per row with the
 * target's index, or -1 for a row that goes nowhere.
 */
@FunctionalInterface
public interface Partitioner {
  void targets(VectorSchemaRoot batch, int[] out);

  /**
   * By an integer column the producer's query computed (a shard id, say, from the same routing
   * expression the table's writes use): bucket {@code b} goes to {@code targetOfBucket.get(b)}; a
   * NULL bucket, or one no target takes, goes nowhere. The rule stays in one place, the SQL that
   * routes writes, so a shuffled row lands exactly where the rows it joins with live.
   */
  static Partitioner byBucketColumn(String column, Map<Integer, Integer> targetOfBucket) {
    int max = targetOfBucket.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1);
    int[] table = new int[max + 1];
    java.util.Arrays.fill(table, -1);
    targetOfBucket.forEach((b, t) -> {
      if (b < 0) {
        throw new IllegalArgumentException("bucket " + b + " is negative");
      }
      table[b] = t;
    });
    return (batch, out) -> {
      FieldVector v = batch.getVector(column);
      if (!(v instanceof BaseIntVector ints)) {
        throw new QuiverException(ErrorCode.GENERIC_INTERNAL_ERROR, "the shuffle's bucket column " + column
            + " is missing or not an integer column");
      }
      for (int r = 0; r < batch.getRowCount(); r++) {
        if (v.isNull(r)) {
          out[r] = -1;
          continue;
        }
        long b = ints.getValueAsLong(r);
        out[r] = b >= 0 && b < table.length ? table[(int) b] : -1;
      }
    };
  }

  /**
   * By a hash of the key columns' values modulo {@code targets} (Arrow's own value hash, the same
   * on every node): equal keys meet on one target. A row whose key has a NULL goes to target 0,
   * so no row is lost (an equality join drops it there, a GROUP BY keeps its NULL group whole).
   */
  static Partitioner hash(List<String> keys, int targets) {
    if (targets < 1 || keys.isEmpty()) {
      throw new IllegalArgumentException("a hash partitioner needs key columns and at least one target");
    }
    return (batch, out) -> {
      FieldVector[] vectors = new FieldVector[keys.size()];
      for (int k = 0; k < vectors.length; k++) {
        vectors[k] = batch.getVector(keys.get(k));
        if (vectors[k] == null) {
          throw new QuiverException(ErrorCode.GENERIC_INTERNAL_ERROR, "the shuffle's key column " + keys.get(k)
              + " is missing from its input");
        }
      }
      for (int r = 0; r < batch.getRowCount(); r++) {
        int h = 1;
        boolean anyNull = false;
        for (FieldVector v : vectors) {
          anyNull |= v.isNull(r);
          h = 31 * h + v.hashCode(r);
        }
        out[r] = anyNull ? 0 : Math.floorMod(h, targets);
      }
    };
  }
}
