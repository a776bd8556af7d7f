import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hardwareFailure, PERMANENT_FAILURE } from '../../src/transcode/stream-transcoder.ts';

describe('hardwareFailure: ffmpeg deaths that send a stream from its hardware encoder to x264', () => {
  const hardware: [string, string, string][] = [
    ['NVENC session limit', '[h264_nvenc @ 0x55d0c8a3c2c0] OpenEncodeSessionEx failed: out of memory (10): (no details)', 'OpenEncodeSessionEx failed: out of memory (10): (no details)'],
    ['NVENC client key (consumer session cap)', '[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: incompatible client key (21): (no details)', 'OpenEncodeSessionEx failed: incompatible client key (21): (no details)'],
    ['no NVENC device', '[h264_nvenc @ 0x1] No NVENC capable devices found', 'No NVENC capable devices found'],
    ['driver too old', '[h264_nvenc @ 0x1] Driver does not support the required nvenc API version. Required: 12.0 Found: 11.1', 'Driver does not support the required nvenc API version. Required: 12.0 Found: 11.1'],
    ['NVENC lost mid-stream', '[h264_nvenc @ 0x1] EncodePicture failed!: an unknown internal error (20)', 'EncodePicture failed!: an unknown internal error (20)'],
    ['no CUDA device', '[AVHWDeviceContext @ 0x1] cuInit(0) failed -> CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected', 'cuInit(0) failed -> CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected'],
    ['no CUDA library', '[AVHWDeviceContext @ 0x1] Cannot load libcuda.so.1', 'Cannot load libcuda.so.1'],
    ['CUDA scaler fault', '[scale_cuda @ 0x1] cuCtxPushCurrent(cu->cuda_ctx) failed -> CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered', 'cuCtxPushCurrent(cu->cuda_ctx) failed -> CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered'],
    ['no VAAPI', '[AVHWDeviceContext @ 0x1] Failed to initialise VAAPI connection: -1 (unknown libva error).', 'Failed to initialise VAAPI connection: -1 (unknown libva error)'],
    ['VAAPI encode fault', '[h264_vaapi @ 0x1] Failed to end picture encode issue: 23 (internal encoding error).', 'Failed to end picture encode issue: 23 (internal encoding error)'],
    ['QSV session', '[h264_qsv @ 0x1] Error initializing an internal MFX session: unsupported (-3)', 'Error initializing an internal MFX session: unsupported (-3)'],
    ['QSV device lost', '[h264_qsv @ 0x1] Error during encoding: device failed (-17)', 'Error during encoding: device failed (-17)'],
    ['hardware upload', '[hwupload @ 0x1] A hardware device reference is required to upload frames to.', 'A hardware device reference is required to upload frames to'],
    [
      "FfmpegProcess's tail: the telling line, not the last",
      '[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: out of memory (10): (no details) | Error initializing output stream 0:1 -- Error while opening encoder | Conversion failed!',
      'OpenEncodeSessionEx failed: out of memory (10): (no details)',
    ],
  ];
  for (const [name, message, reason] of hardware) test(name, () => assert.equal(hardwareFailure(message), reason));

  const other: [string, string][] = [
    ['generic', 'Conversion failed!'],
    ['bad input', 'pipe:0: Invalid data found when processing input'],
    ['decoder', 'Error while decoding stream #0:0: Invalid data found when processing input'],
    ['demuxer', '[flv @ 0x1] Packet mismatch 1234 11 11'],
    ['audio', '[aac @ 0x1] Queue input is backward in time'],
    ['full disk (a permanent failure instead)', '[dash @ 0x1] failed to open chunk-0-00003.m4s: No space left on device'],
    ['exit without stderr', 'exit code 1 signal null'],
  ];
  for (const [name, message] of other) test(`not hardware: ${name}`, () => assert.equal(hardwareFailure(message), undefined));
  test('a full disk stays a permanent failure', () => assert.ok(PERMANENT_FAILURE.test(other[5]![1])));
});
