import compress from '@fastify/compress';
import type { FastifyInstance } from 'fastify';
import { definePlugin } from './define-plugin.js';

/** Responses smaller than this are sent as they are: compressing them saves nothing. */
export const compressThresholdBytes = 1024;

/**
 * Compresses answers of `scope` with gzip or deflate when the client's `Accept-Encoding` asks
 * for it and the body is at least {@link compressThresholdBytes} (@fastify/compress; large
 * bodies stream through zlib on libuv's thread pool). Brotli is not offered: at its default
 * quality it costs many times gzip's CPU for a few percent on number-heavy JSON. Request
 * decompression is Bastion's own (`request-body.ts`), which stops inflating at `bodyBytes`.
 */
export const responseCompressionPlugin = definePlugin(
  async (scope: FastifyInstance) => {
    await scope.register(compress, {
      global: true,
      globalDecompression: false,
      threshold: compressThresholdBytes,
      encodings: ['gzip', 'deflate'],
    });
  },
  // After the audit hook, so a fail-closed 503 replaces the payload before it is compressed.
  { name: 'bastion-response-compression', dependencies: ['bastion-observe'] },
);
