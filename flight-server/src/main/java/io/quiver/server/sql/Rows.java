package io.quiver.server.sql;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.arrow.vector.BitVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.UInt1Vector;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.ListVector;
import org.apache.arrow.vector.complex.impl.UnionListWriter;
import org.apache.arrow.vector.util.Text;

/** Fills a metadata result (a fixed Flight SQL schema) from rows of Java values. */
final class Rows {
  private Rows() {}

  static void fill(VectorSchemaRoot root, List<Object[]> rows) {
    root.allocateNew();
    List<FieldVector> vectors = root.getFieldVectors();
    for (int r = 0; r < rows.size(); r++) {
      Object[] row = rows.get(r);
      for (int c = 0; c < vectors.size(); c++) {
        set(vectors.get(c), r, row[c]);
      }
    }
    root.setRowCount(rows.size());
  }

  @SuppressWarnings("unchecked")
  private static void set(FieldVector v, int r, Object value) {
    if (value == null) {
      if (v instanceof ListVector l) {
        l.setNull(r);
      } else {
        v.setNull(r);
      }
      return;
    }
    if (v instanceof VarCharVector s) {
      s.setSafe(r, new Text(value.toString()));
    } else if (v instanceof IntVector i) {
      i.setSafe(r, ((Number) value).intValue());
    } else if (v instanceof UInt1Vector u) {
      u.setSafe(r, ((Number) value).intValue());
    } else if (v instanceof BitVector b) {
      b.setSafe(r, (Boolean) value ? 1 : 0);
    } else if (v instanceof VarBinaryVector b) {
      b.setSafe(r, (byte[]) value);
    } else if (v instanceof ListVector l) {
      UnionListWriter w = l.getWriter();
      w.setPosition(r);
      w.startList();
      for (String s : (List<String>) value) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        try (org.apache.arrow.memory.ArrowBuf buf = l.getAllocator().buffer(bytes.length)) {
          buf.setBytes(0, bytes);
          w.varChar().writeVarChar(0, bytes.length, buf);
        }
      }
      w.endList();
    } else {
      throw new IllegalArgumentException("no setter for " + v.getClass().getSimpleName());
    }
  }
}
