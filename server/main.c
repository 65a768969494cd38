/* Placeholder until noxrunnerd lands (being written now). */
#include <stdio.h>
int main(void) { fputs("noxrunnerd: not built yet\n", stderr); return 1; }
