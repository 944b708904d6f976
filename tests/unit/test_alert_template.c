/* Alert message templates: Python's str(float), the operator words, the placeholders. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alert.h"
#include "tap.h"

static void
py(double v, const char *want)
{
	char got[32];

	tsk_alert_pyfloat(v, got, sizeof got);
	is_str(got, want, "str(%.17g) is %s", v, want);
}

int
main(void)
{
	py(25.0, "25.0");
	py(31.14, "31.14");
	py(-61.0, "-61.0");
	py(1e16, "1e+16");
	py(0.1 + 0.2, "0.30000000000000004");
	py(1e-5, "1e-05");
	py(0.0001, "0.0001");
	py(0.00012, "0.00012");
	py(1234567890123456.0, "1234567890123456.0");
	py(123456789.125, "123456789.125");
	py(1e22, "1e+22");
	py(1.5e-7, "1.5e-07");
	py(-2.5e+300, "-2.5e+300");
	py(0.0, "0.0");
	py(-0.0, "-0.0");
	py(100.0, "100.0");
	py(5e-324, "5e-324");
	py(NAN, "nan");
	py(INFINITY, "inf");
	py(-INFINITY, "-inf");

	is_str(tsk_alert_operator_words(">"), "maior que", "> in words");
	is_str(tsk_alert_operator_words(">="), "maior ou igual a", ">= in words");
	is_str(tsk_alert_operator_words("<"), "menor que", "< in words");
	is_str(tsk_alert_operator_words("<="), "menor ou igual a", "<= in words");
	is_str(tsk_alert_operator_words("=="), "igual a", "== in words");
	is_str(tsk_alert_operator_words("!="), "diferente de", "!= in words");

	char *m = tsk_alert_message("Temperatura de {value}{unit} {operator} {threshold}{unit} em {sensor} ({variavel}) {x} {",
	    "sensor_12", 27.3, 25, ">", "°C");
	is_str(m, "Temperatura de 27.3°C maior que 25.0°C em sensor_12 (sensor_12) {x} {",
	    "placeholders replaced, unknown ones and a lone brace kept");
	free(m);
	m = tsk_alert_message("{value}{value}", "k", 1e16, 0, "??", NULL);
	is_str(m, "1e+161e+16", "a placeholder twice; an unknown operator");
	free(m);
	m = tsk_alert_message("", "k", 1, 2, ">", "");
	is_str(m, "", "an empty template");
	free(m);
	m = tsk_alert_message("{operator} {unit}|", "k", 1, 2, "<>", NULL);
	is_str(m, "<> |", "an unknown operator is itself; no unit is empty");
	free(m);
	return done_testing();
}
