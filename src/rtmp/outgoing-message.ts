/** A message ready for the chunk encoder (RTMP spec 5.3.1: the fields of a type 0 chunk header). */
export interface OutgoingMessage {
  csid: number;
  typeId: number;
  streamId: number;
  timestamp: number;
  payload: Buffer;
}
