/**
 * The official BIRD archives this toolkit downloads: where each comes from and how it is laid out once
 * extracted, and the error every download step throws.
 *
 * @module
 */

/** The datasets this command knows. */
export type DatasetName = "dev" | "train" | "mini-dev";

/** Where a dataset comes from and how its archive is laid out. */
export interface DatasetSpec {
  name: DatasetName;
  /** Official URL. */
  url: string;
  /** Environment variable that replaces the official URL. */
  envVar: string;
  /** File name of the archive under `<dest>/downloads/`. */
  archive: string;
  /** Top-level folder of the archive, which becomes `<dest>/<folder>`. */
  folder: string;
  /** Questions file, relative to the folder. */
  questions: string;
  /** Schema file, relative to the folder. */
  tables: string;
  /** Databases folder (`<db>/<db>.sqlite`), relative to the folder. */
  dbRoot: string;
}

const BIRD_BASE = "https://bird-bench.oss-cn-beijing.aliyuncs.com";

/** The official BIRD archives and their layouts. */
const DATASETS: Readonly<Record<DatasetName, DatasetSpec>> = {
  dev: {
    name: "dev",
    url: `${BIRD_BASE}/dev.zip`,
    envVar: "TEXT2SQL_BIRD_URL_DEV",
    archive: "dev.zip",
    folder: "dev_20240627",
    questions: "dev.json",
    tables: "dev_tables.json",
    dbRoot: "dev_databases",
  },
  train: {
    name: "train",
    url: `${BIRD_BASE}/train.zip`,
    envVar: "TEXT2SQL_BIRD_URL_TRAIN",
    archive: "train.zip",
    folder: "train",
    questions: "train.json",
    tables: "train_tables.json",
    dbRoot: "train_databases",
  },
  "mini-dev": {
    name: "mini-dev",
    url: `${BIRD_BASE}/minidev.zip`,
    envVar: "TEXT2SQL_BIRD_URL_MINI_DEV",
    archive: "minidev.zip",
    folder: "minidev",
    questions: "MINIDEV/mini_dev_sqlite.json",
    tables: "MINIDEV/dev_tables.json",
    dbRoot: "MINIDEV/dev_databases",
  },
};

/** A failure of the download command; its message is one line naming the URL or file. */
export class DownloadError extends Error {
  /** @param message One line naming the URL or file. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DownloadError";
  }
}

/**
 * Resolves a dataset name as typed on the command line (`mini-dev`, `minidev`, `mini_dev` are one dataset).
 *
 * @param name The name given.
 * @throws {DownloadError} for an unknown name.
 */
export function datasetSpec(name: string): DatasetSpec {
  const key = name.toLowerCase().replace(/[_]/g, "-").replace(/^minidev$/, "mini-dev");
  if (key in DATASETS) return DATASETS[key as DatasetName];
  throw new DownloadError(`unknown dataset "${name}": expected dev, train or mini-dev`);
}
