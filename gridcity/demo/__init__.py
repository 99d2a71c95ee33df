"""The demo city: 上城区 with streets, communities, 100 m cells, departments, people and six
months of case history, all built through the real actions (`gridcity demo`)."""
