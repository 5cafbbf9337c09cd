/**
 * The nftables command line (nft(8)). Not looked up in PATH: under npx/npm, node_modules/.bin comes first
 * and holds another "nft" (@vercel/nft, a dependency of the test runner), which accepts any arguments.
 */
import { existsSync } from "node:fs";

export const NFT: string | null =
  ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].find((p) => existsSync(p)) ?? null;
