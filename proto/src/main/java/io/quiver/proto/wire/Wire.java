package io.quiver.proto.wire;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.util.Optional;

/**
 * How Quiver's own messages travel in Flight tickets and descriptors: packed in {@code
 * google.protobuf.Any}, so that their type URL ({@code type.googleapis.com/quiver.<Message>})
 * tells them apart from each other and from Flight SQL commands (which are packed the same way).
 */
public final class Wire {
  private Wire() {}

  public static byte[] pack(Message message) {
    return Any.pack(message).toByteArray();
  }

  /**
   * {@code bytes} as a {@code type}, or empty when they are not an {@code Any} holding one (another
   * kind of ticket). A message of the right type that does not parse is a MALFORMED_REQUEST.
   */
  public static <T extends Message> Optional<T> unpack(byte[] bytes, Class<T> type) {
    Any any;
    try {
      any = Any.parseFrom(bytes);
    } catch (InvalidProtocolBufferException e) {
      return Optional.empty();
    }
    if (!any.is(type)) {
      return Optional.empty();
    }
    try {
      return Optional.of(any.unpack(type));
    } catch (InvalidProtocolBufferException e) {
      throw QuiverException.user(ErrorCode.MALFORMED_REQUEST, "a %s that does not parse: %s", type.getSimpleName(),
          e.getMessage());
    }
  }
}
