/* Placeholder until the agent lands (being written now). */
#include <stdio.h>
int main(void) { fputs("nox-sandbox: not built yet\n", stderr); return 1; }
