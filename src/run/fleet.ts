export async function runFleet(_: unknown): Promise<number> { return 1; }
