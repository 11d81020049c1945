/* Placeholder until the manifest tests land. */
#include <stdio.h>

int main(void)
{
	puts("skip - test_manifest: not written yet");
	return 0;
}
